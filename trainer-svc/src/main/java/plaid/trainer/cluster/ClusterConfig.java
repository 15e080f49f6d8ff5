package plaid.trainer.cluster;

import io.smallrye.config.WithDefault;
import java.time.Duration;
import java.util.OptionalInt;

/** {@code trainer-svc.cluster.*}: whether jobs train on worker processes of other machines, and how they are watched. */
public interface ClusterConfig {
    /**
     * Worker processes (one per machine) every job trains on; unset: the service trains jobs
     * itself. Set, the service is the jobs' coordinator and needs no accelerator.
     */
    OptionalInt workers();

    /** How long a job's workers have to join, from the job's (or a restart's) start. */
    @WithDefault("10m")
    Duration joinTimeout();

    /** How often a worker heartbeats. */
    @WithDefault("5s")
    Duration heartbeatInterval();

    /** A worker silent this long is taken for dead: its job's attempt fails. */
    @WithDefault("60s")
    Duration heartbeatTimeout();

    /** Restarts from the last checkpoint after a worker is lost, before the job fails. */
    @WithDefault("2")
    int maxRestarts();
}
