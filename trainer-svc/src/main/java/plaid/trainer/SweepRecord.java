package plaid.trainer;

import jakarta.persistence.Entity;
import jakarta.persistence.EnumType;
import jakarta.persistence.Enumerated;
import jakarta.persistence.Table;
import plaid.v1.SweepState;

/** A row of {@code sweeps}: the request (protobuf JSON) and the sweep's state; its trials are {@link SweepTrialRecord}s. */
@Entity
@Table(name = "sweeps")
public class SweepRecord extends SubmittedRecord {
    public String request;

    @Enumerated(EnumType.STRING)
    public SweepState state;
}
