package plaid.trainer;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.persistence.EntityManager;
import jakarta.persistence.LockModeType;
import jakarta.transaction.Transactional;
import java.time.Instant;
import java.util.Collection;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.UUID;
import plaid.v1.CheckpointInfo;
import plaid.v1.Job;
import plaid.v1.JobEvent;
import plaid.v1.JobState;
import plaid.v1.TrainingSpec;

/**
 * The jobs, their event logs and checkpoints in the database. Every change of a job goes
 * through {@link #append}, so the log and the row never disagree.
 */
@ApplicationScoped
public class JobStore {
    static final Set<JobState> TERMINAL =
            EnumSet.of(JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED);

    private final EntityManager em;

    JobStore(EntityManager em) {
        this.em = em;
    }

    /** A new queued job, or the one an earlier submission with the same request id made. */
    @Transactional
    public Job create(TrainingSpec spec, String displayName, String requestId, int totalSteps) {
        Optional<Job> earlier = byRequestId(requestId);
        if (earlier.isPresent()) return earlier.get();
        JobRecord job = new JobRecord();
        job.id = UUID.randomUUID().toString();
        job.requestId = requestId.isEmpty() ? null : requestId;
        job.displayName = displayName;
        job.spec = Messages.json(spec);
        job.state = JobState.JOB_STATE_QUEUED;
        job.createdAt = Instant.now();
        job.totalSteps = totalSteps;
        em.persist(job);
        append(job.id, JobEvent.newBuilder().setState(JobState.JOB_STATE_QUEUED));
        return job(job);
    }

    /** The job an earlier submission with this request id made; none for an empty id. */
    @Transactional
    public Optional<Job> byRequestId(String requestId) {
        if (requestId.isEmpty()) return Optional.empty();
        return em.createQuery("from JobRecord where requestId = :r", JobRecord.class)
                .setParameter("r", requestId)
                .getResultStream()
                .findFirst()
                .map(this::job);
    }

    @Transactional
    public Optional<Job> find(String jobId) {
        return Optional.ofNullable(em.find(JobRecord.class, jobId)).map(this::job);
    }

    /** Jobs in {@code states} (all when empty), newest first. */
    @Transactional
    public List<Job> page(Collection<JobState> states, int offset, int limit) {
        return em.createQuery(
                        "from JobRecord where (:all = true or state in :states) order by createdAt desc, id",
                        JobRecord.class)
                .setParameter("all", states.isEmpty())
                .setParameter("states", states.isEmpty() ? EnumSet.allOf(JobState.class) : states)
                .setFirstResult(offset)
                .setMaxResults(limit)
                .getResultStream()
                .map(this::job)
                .toList();
    }

    /** Jobs in {@code states}, oldest first: the order they were queued in. */
    @Transactional
    public List<Job> inStates(Set<JobState> states) {
        return em.createQuery("from JobRecord where state in :states order by createdAt, id", JobRecord.class)
                .setParameter("states", states)
                .getResultStream()
                .map(this::job)
                .toList();
    }

    /**
     * Appends an event to the job's log with the next sequence number and the time, and
     * applies it to the job's row (state, timestamps, step, latest metrics and validation).
     */
    @Transactional
    public JobEvent append(String jobId, JobEvent.Builder builder) {
        JobRecord job = em.find(JobRecord.class, jobId, LockModeType.PESSIMISTIC_WRITE);
        Instant now = Instant.now();
        JobEvent event = builder.setSequence(++job.lastSequence)
                .setTime(Messages.timestamp(now))
                .build();
        JobEventRecord record = new JobEventRecord();
        record.jobId = jobId;
        record.seq = event.getSequence();
        record.kind = event.getEventCase().name();
        record.event = Messages.json(event);
        switch (event.getEventCase()) {
            case STATE -> {
                job.state = event.getState();
                if (job.state == JobState.JOB_STATE_RUNNING && job.startedAt == null) job.startedAt = now;
                if (TERMINAL.contains(job.state)) job.finishedAt = now;
            }
            case METRICS -> {
                job.step = event.getMetrics().getStep() + 1;
                job.latestMetrics = Messages.json(event.getMetrics());
                record.step = event.getMetrics().getStep();
                record.loss = event.getMetrics().getLoss();
            }
            case VALIDATION -> job.latestValidation = Messages.json(event.getValidation());
            case CHECKPOINT ->
                job.step = Math.max(job.step, event.getCheckpoint().getStep());
            default -> {}
        }
        em.persist(record);
        return event;
    }

    /** Ends the job in {@code state}, with the reason when it failed. */
    @Transactional
    public JobEvent finish(String jobId, JobState state, String failure) {
        em.find(JobRecord.class, jobId, LockModeType.PESSIMISTIC_WRITE).failure = failure;
        return append(jobId, JobEvent.newBuilder().setState(state));
    }

    /** The job's events with a sequence above {@code after}, in order. */
    @Transactional
    public List<JobEvent> eventsAfter(String jobId, long after) {
        return em.createQuery(
                        "select event from JobEventRecord where jobId = :j and seq > :s order by seq", String.class)
                .setParameter("j", jobId)
                .setParameter("s", after)
                .getResultStream()
                .map(json -> Messages.parse(json, JobEvent.newBuilder()).build())
                .toList();
    }

    /** Loss by optimiser step; a step run again after a resumption keeps its latest value. */
    @Transactional
    public SortedMap<Integer, Double> lossCurve(String jobId) {
        SortedMap<Integer, Double> curve = new TreeMap<>();
        em.createQuery(
                        "select step, loss from JobEventRecord where jobId = :j and kind = 'METRICS' order by seq",
                        Object[].class)
                .setParameter("j", jobId)
                .getResultStream()
                .forEach(row -> curve.put((Integer) row[0], (Double) row[1]));
        return curve;
    }

    /**
     * Records a written checkpoint and its event, then forgets all but the newest {@code keep}
     * of the job's checkpoints; returns the forgotten ones, whose files the caller deletes.
     */
    @Transactional
    public List<CheckpointRecord> recordCheckpoint(String jobId, CheckpointInfo info, int keep) {
        CheckpointRecord record = new CheckpointRecord();
        record.jobId = jobId;
        record.step = info.getStep();
        record.path = info.getPath();
        record.writtenAt = Instant.now();
        record.resumable = info.getResumable();
        // A step checkpointed again (after a resumption) replaces the earlier row.
        em.createQuery("delete from CheckpointRecord where jobId = :j and step = :s")
                .setParameter("j", jobId)
                .setParameter("s", info.getStep())
                .executeUpdate();
        em.persist(record);
        append(jobId, JobEvent.newBuilder().setCheckpoint(Messages.checkpoint(record)));
        List<CheckpointRecord> all = checkpoints(jobId);
        List<CheckpointRecord> dropped = all.subList(0, Math.max(0, all.size() - keep));
        dropped.forEach(em::remove);
        return List.copyOf(dropped);
    }

    /** The job's newest checkpoint, where a resumption starts. */
    @Transactional
    public Optional<CheckpointRecord> latestCheckpoint(String jobId) {
        List<CheckpointRecord> all = checkpoints(jobId);
        return all.isEmpty() ? Optional.empty() : Optional.of(all.getLast());
    }

    @Transactional
    public Optional<CheckpointRecord> checkpointAt(String path) {
        return em.createQuery("from CheckpointRecord where path = :p", CheckpointRecord.class)
                .setParameter("p", path)
                .getResultStream()
                .findFirst();
    }

    private List<CheckpointRecord> checkpoints(String jobId) {
        return em.createQuery("from CheckpointRecord where jobId = :j order by step", CheckpointRecord.class)
                .setParameter("j", jobId)
                .getResultList();
    }

    private Job job(JobRecord record) {
        return Messages.job(record, checkpoints(record.id));
    }
}
