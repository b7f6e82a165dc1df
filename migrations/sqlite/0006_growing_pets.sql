-- Growing a pet (/grow): its model is the LoRA of ONE training job, named here, so a second
-- training of the same pet can run while /imagine keeps drawing from the first one's files.
ALTER TABLE subjects ADD COLUMN model_job_id INTEGER;   -- NULL: no model yet
-- The growth that brought a photo (NULL: enrolled with the pet); a failed growth drops its own.
ALTER TABLE photos ADD COLUMN grown_by_job_id INTEGER;

-- Until now a pet's model came from its latest training (a pet had only one).
UPDATE subjects
   SET model_job_id = (SELECT max(id) FROM jobs WHERE jobs.subject_id = subjects.id
                                                  AND jobs.kind = 'train')
 WHERE status = 'ready';
