package plaid.trainer;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;

/** A row of {@code checkpoints}: one that exists on disk (retention deletes both). */
@Entity
@Table(name = "checkpoints")
public class CheckpointRecord {
    @Id
    @GeneratedValue(strategy = GenerationType.IDENTITY)
    public Long id;

    @Column(name = "job_id")
    public String jobId;
    /** Optimiser steps done when it was written. */
    public int step;
    /** Relative to the run root. */
    public String path;

    @Column(name = "written_at")
    public Instant writtenAt;

    public boolean resumable;
}
