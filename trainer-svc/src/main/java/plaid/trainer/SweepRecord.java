package plaid.trainer;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.EnumType;
import jakarta.persistence.Enumerated;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;
import plaid.v1.SweepState;

/** A row of {@code sweeps}: the request (protobuf JSON) and the sweep's state; its trials are {@link SweepTrialRecord}s. */
@Entity
@Table(name = "sweeps")
public class SweepRecord {
    @Id
    public String id;

    @Column(name = "request_id")
    public String requestId;

    @Column(name = "display_name")
    public String displayName;

    public String request;

    @Enumerated(EnumType.STRING)
    public SweepState state;

    @Column(name = "created_at")
    public Instant createdAt;

    @Column(name = "finished_at")
    public Instant finishedAt;
}
