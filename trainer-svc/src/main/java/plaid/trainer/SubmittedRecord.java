package plaid.trainer;

import jakarta.persistence.Column;
import jakarta.persistence.Id;
import jakarta.persistence.MappedSuperclass;
import java.time.Instant;

/**
 * The columns a submitted job ({@link JobRecord}) and sweep ({@link SweepRecord}) share: the id,
 * the client's request_id that makes a resubmission find the first, the display name, and when it
 * was created and finished.
 */
@MappedSuperclass
public abstract class SubmittedRecord {
    @Id
    public String id;

    @Column(name = "request_id")
    public String requestId;

    @Column(name = "display_name")
    public String displayName;

    @Column(name = "created_at")
    public Instant createdAt;

    @Column(name = "finished_at")
    public Instant finishedAt;
}
