package plaid.trainer;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.persistence.EntityManager;
import jakarta.persistence.LockModeType;
import jakarta.transaction.Transactional;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import plaid.v1.SubmitSweepRequest;
import plaid.v1.Sweep;
import plaid.v1.SweepState;
import plaid.v1.SweepTrial;
import plaid.v1.TrialState;

/** Sweeps and their trials in the database: a sweep and all its trials are written in one transaction. */
@ApplicationScoped
public class SweepStore {
    private final EntityManager em;

    SweepStore(EntityManager em) {
        this.em = em;
    }

    /** A new running sweep with these (pending) trials, or the one an earlier submission with the same request id made. */
    @Transactional
    public Sweep create(SubmitSweepRequest request, List<SweepTrial> trials) {
        Optional<Sweep> earlier = byRequestId(request.getRequestId());
        if (earlier.isPresent()) return earlier.get();
        SweepRecord sweep = new SweepRecord();
        sweep.id = UUID.randomUUID().toString();
        sweep.requestId = request.getRequestId().isEmpty() ? null : request.getRequestId();
        sweep.displayName = request.getDisplayName();
        sweep.request = Messages.json(request.toBuilder().clearRequestId().build());
        sweep.state = SweepState.SWEEP_STATE_RUNNING;
        // The database keeps microseconds: what this returns is what a later read gives.
        sweep.createdAt = Instant.now().truncatedTo(ChronoUnit.MICROS);
        em.persist(sweep);
        for (SweepTrial trial : trials) {
            SweepTrialRecord record = new SweepTrialRecord();
            record.sweepId = sweep.id;
            record.idx = trial.getIndex();
            record.trial = Messages.json(trial);
            em.persist(record);
        }
        em.flush();
        return sweep(sweep);
    }

    @Transactional
    public Optional<Sweep> byRequestId(String requestId) {
        if (requestId.isEmpty()) return Optional.empty();
        return em.createQuery("from SweepRecord where requestId = :r", SweepRecord.class)
                .setParameter("r", requestId)
                .getResultStream()
                .findFirst()
                .map(this::sweep);
    }

    @Transactional
    public Optional<Sweep> find(String sweepId) {
        return Optional.ofNullable(em.find(SweepRecord.class, sweepId)).map(this::sweep);
    }

    /** Newest first. */
    @Transactional
    public List<Sweep> page(int offset, int limit) {
        return em.createQuery("from SweepRecord order by createdAt desc, id", SweepRecord.class)
                .setFirstResult(offset)
                .setMaxResults(limit)
                .getResultStream()
                .map(this::sweep)
                .toList();
    }

    /** Ids of the sweeps still running: what a restarted service follows again. */
    @Transactional
    public List<String> running() {
        return em.createQuery("select id from SweepRecord where state = :s order by createdAt", String.class)
                .setParameter("s", SweepState.SWEEP_STATE_RUNNING)
                .getResultList();
    }

    /** Replaces the stored trial of the same index. */
    @Transactional
    public void updateTrial(String sweepId, SweepTrial trial) {
        em.createQuery("from SweepTrialRecord where sweepId = :s and idx = :i", SweepTrialRecord.class)
                        .setParameter("s", sweepId)
                        .setParameter("i", trial.getIndex())
                        .setLockMode(LockModeType.PESSIMISTIC_WRITE)
                        .getSingleResult()
                        .trial =
                Messages.json(trial);
    }

    /** Ends the sweep in {@code state}. */
    @Transactional
    public void finish(String sweepId, SweepState state) {
        SweepRecord sweep = em.find(SweepRecord.class, sweepId, LockModeType.PESSIMISTIC_WRITE);
        sweep.state = state;
        sweep.finishedAt = Instant.now();
    }

    private Sweep sweep(SweepRecord record) {
        List<SweepTrial> trials = em.createQuery(
                        "select trial from SweepTrialRecord where sweepId = :s order by idx", String.class)
                .setParameter("s", record.id)
                .getResultStream()
                .map(json -> Messages.parse(json, SweepTrial.newBuilder()).build())
                .toList();
        Sweep.Builder sweep = Sweep.newBuilder()
                .setId(record.id)
                .setDisplayName(record.displayName)
                .setRequest(Messages.parse(record.request, SubmitSweepRequest.newBuilder()))
                .setState(record.state)
                .setCreatedAt(Messages.timestamp(record.createdAt))
                .addAllTrials(trials)
                .setBestTrial(trials.stream()
                        .filter(t -> t.getState() == TrialState.TRIAL_STATE_SUCCEEDED && t.hasValidationNll())
                        .min(Comparator.comparingDouble(SweepTrial::getValidationNll))
                        .map(SweepTrial::getIndex)
                        .orElse(-1));
        if (record.finishedAt != null) sweep.setFinishedAt(Messages.timestamp(record.finishedAt));
        return sweep.build();
    }
}
