-- Every checkpoint's preview scores (the DreamBooth paper's metrics), and the step the engine
-- recommends from them when the training succeeds.

CREATE TABLE checkpoint_scores (
    job_id        BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step          INTEGER NOT NULL,
    identity      DOUBLE PRECISION NOT NULL,
    clip_image    DOUBLE PRECISION NOT NULL,
    clip_text     DOUBLE PRECISION NOT NULL,
    created_at    DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_id, step)
);

-- NULL: no scores (scoring off, or none could be made): the final step is the pet's model.
ALTER TABLE subjects ADD COLUMN recommended_step INTEGER;
