package plaid.trainer;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.Table;

/** A row of {@code sweep_trials}: one trial of a sweep as a SweepTrial message (protobuf JSON). */
@Entity
@Table(name = "sweep_trials")
public class SweepTrialRecord {
    @Id
    @GeneratedValue(strategy = GenerationType.IDENTITY)
    public Long id;

    @Column(name = "sweep_id")
    public String sweepId;

    public int idx;
    public String trial;
}
