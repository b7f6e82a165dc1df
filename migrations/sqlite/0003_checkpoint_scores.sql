-- Every checkpoint's preview scores (the DreamBooth paper's metrics), and the step the engine
-- recommends from them when the training succeeds.

CREATE TABLE checkpoint_scores (
    job_id        INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step          INTEGER NOT NULL,
    identity      REAL    NOT NULL,   -- DINO: mean cosine, previews x the owner's photos
    clip_image    REAL    NOT NULL,   -- CLIP-I: the same with CLIP's image embeddings
    clip_text     REAL    NOT NULL,   -- CLIP-T: mean cosine, preview x its class-noun prompt
    created_at    REAL    NOT NULL,
    PRIMARY KEY (job_id, step)
);

-- NULL: no scores (scoring off, or none could be made): the final step is the pet's model.
ALTER TABLE subjects ADD COLUMN recommended_step INTEGER;
