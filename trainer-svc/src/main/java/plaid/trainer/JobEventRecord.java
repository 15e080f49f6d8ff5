package plaid.trainer;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.Table;

/** A row of {@code job_events}: one JobEvent as protobuf JSON; metrics also as columns for the loss curve. */
@Entity
@Table(name = "job_events")
public class JobEventRecord {
    @Id
    @GeneratedValue(strategy = GenerationType.IDENTITY)
    public Long id;

    @Column(name = "job_id")
    public String jobId;

    public long seq;
    /** The JobEvent's oneof case, e.g. METRICS. */
    public String kind;

    public Integer step;
    public Double loss;
    public String event;
}
