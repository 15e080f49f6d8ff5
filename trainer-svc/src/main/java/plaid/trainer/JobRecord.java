package plaid.trainer;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.EnumType;
import jakarta.persistence.Enumerated;
import jakarta.persistence.Table;
import java.time.Instant;
import plaid.v1.JobState;

/** A row of {@code jobs}: the spec and what has become of it. Messages are protobuf JSON. */
@Entity
@Table(name = "jobs")
public class JobRecord extends SubmittedRecord {
    public String spec;

    @Enumerated(EnumType.STRING)
    public JobState state;

    @Column(name = "started_at")
    public Instant startedAt;

    /** Optimiser steps done. */
    public int step;

    @Column(name = "total_steps")
    public int totalSteps;
    /** The sequence number of the job's newest event. */
    @Column(name = "last_sequence")
    public long lastSequence;

    @Column(name = "latest_metrics")
    public String latestMetrics;

    @Column(name = "latest_validation")
    public String latestValidation;

    public String failure;
}
