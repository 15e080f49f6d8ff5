package plaid.trainer.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import plaid.v1.HeartbeatResponse.Directive;
import plaid.v1.JobState;
import plaid.v1.JoinRequest;
import plaid.v1.JoinResponse;
import plaid.v1.LeaveRequest.Outcome;
import plaid.v1.Optimization;
import plaid.v1.TrainingSpec;

/** One job's rendezvous without processes or a network: rank order, a node that comes back, a failure not worth retrying. */
class ClusterJobTest {
    private final List<String> messages = new CopyOnWriteArrayList<>();
    private volatile Optional<String> checkpoint = Optional.empty();
    private final ClusterJob.Host host = new ClusterJob.Host() {
        @Override
        public boolean cancelled() {
            return false;
        }

        @Override
        public boolean shuttingDown() {
            return false;
        }

        @Override
        public Optional<String> latestCheckpoint() {
            return checkpoint;
        }

        @Override
        public void message(String text) {
            messages.add(text);
        }
    };
    /** 84 rows a step: divisible by the world sizes 7, 3 and 4 below, not by 5. */
    private final ClusterJob job = new ClusterJob(
            "j",
            TrainingSpec.newBuilder()
                    .setOptimization(Optimization.newBuilder().setBatchSize(84))
                    .build(),
            config(3, 1));
    /** A thread per call: joins wait for each other (the common pool may have one thread). */
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();

    private final CompletableFuture<JobState> run = CompletableFuture.supplyAsync(
            () -> {
                try {
                    return job.run(host, 2);
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            },
            threads);

    @AfterEach
    void endRun() {
        threads.shutdownNow();
    }

    @Test
    void nodeIndexesOrderTheRanksWhateverTheArrivalOrder() throws Exception {
        var third = join(2, 1);
        var first = join(0, 4);
        var second = join(1, 2);
        assertThat(List.of(first.get(5, TimeUnit.SECONDS), second.get(), third.get()))
                .extracting(JoinResponse::getFirstRank, JoinResponse::getDevices, JoinResponse::getWorldSize)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple(0, 4, 7),
                        org.assertj.core.groups.Tuple.tuple(4, 2, 7),
                        org.assertj.core.groups.Tuple.tuple(6, 1, 7));
        assertThat(first.get().getKeepCheckpoints()).isEqualTo(2);
        // Only rank 0's worker publishes; the others get its bytes.
        assertThatThrownBy(() -> job.publishUniqueId(second.get().getWorkerId(), new byte[] {1}))
                .hasMessageContaining("only the worker holding rank 0 publishes the unique id");
        job.publishUniqueId(first.get().getWorkerId(), new byte[] {7, 8});
        assertThat(job.awaitUniqueId(third.get().getWorkerId())).containsExactly(7, 8);
    }

    @Test
    void aNodeJoiningAgainEndsTheAttemptAtOnceAndJoinsTheNext() throws Exception {
        var joins = List.of(join(0, 1), join(1, 1), join(2, 1));
        JoinResponse first = joins.get(0).get(5, TimeUnit.SECONDS),
                second = joins.get(1).get(5, TimeUnit.SECONDS);
        checkpoint = Optional.of("jobs/j/checkpoints/step-10");

        // Node 1's process is replaced long before its heartbeats would be missed (60 s here).
        var replacement = join(1, 1);
        await(() -> messages.stream().anyMatch(m -> m.startsWith("attempt 1 failed")));
        assertThat(messages.stream()
                        .filter(m -> m.startsWith("attempt 1 failed"))
                        .findFirst()
                        .orElseThrow())
                .isEqualTo("attempt 1 failed: worker node 1 on h1 (rank 1) joined again: its earlier process is gone;"
                        + " restarting from checkpoint jobs/j/checkpoints/step-10 (restart 1 of 1,"
                        + " trainer-svc.cluster.max-restarts)");
        // The old attempt's workers are told to join again, and do.
        assertThat(job.heartbeat(first.getWorkerId(), 10).getDirective()).isEqualTo(Directive.REJOIN);
        assertThat(job.heartbeat(second.getWorkerId(), 10).getDirective()).isEqualTo(Directive.REJOIN);
        var again0 = join(0, 1);
        var again2 = join(2, 1);
        JoinResponse next = replacement.get(5, TimeUnit.SECONDS);
        assertThat(next.getAttempt()).isEqualTo(2);
        assertThat(next.getResumeFrom()).isEqualTo("jobs/j/checkpoints/step-10");
        assertThat(again0.get().getFirstRank()).isZero();
        assertThat(again2.get().getFirstRank()).isEqualTo(2);
    }

    @Test
    void aProcessJoiningAgainKeepsItsPlaceWhereAnotherProcessWouldEndTheAttempt() throws Exception {
        // node 1's join is asked twice by its process (the transport lost the first answer) while the others wait
        var first = join(0, 1);
        var node1 = join(1, 1, "process-1");
        var node1Again = join(1, 1, "process-1");
        var third = join(2, 1);
        JoinResponse assigned = node1.get(5, TimeUnit.SECONDS);
        assertThat(node1Again.get(5, TimeUnit.SECONDS)).isEqualTo(assigned);
        first.get(5, TimeUnit.SECONDS);
        third.get(5, TimeUnit.SECONDS);
        // and again once the attempt runs: the same assignment, the attempt goes on
        assertThat(join(1, 1, "process-1").get(5, TimeUnit.SECONDS)).isEqualTo(assigned);
        assertThat(job.heartbeat(assigned.getWorkerId(), 3).getDirective()).isNotEqualTo(Directive.REJOIN);
        assertThat(messages).noneMatch(m -> m.startsWith("attempt 1 failed"));

        // another process with node 1's index: the member's process is gone
        join(1, 1, "process-1b");
        await(() -> messages.stream().anyMatch(m -> m.startsWith("attempt 1 failed")));
        assertThat(messages).anyMatch(m -> m.contains("worker node 1 on h1 (rank 1) joined again"));
    }

    @Test
    void aDivergedRankFailsTheJobWithoutARestart() throws Exception {
        var joins = List.of(join(0, 1), join(1, 1), join(2, 1));
        JoinResponse first = joins.get(0).get(5, TimeUnit.SECONDS);
        job.leave(first.getWorkerId(), Outcome.FAILED, "step 7: the loss is NaN", false);

        assertThatThrownBy(() -> run.get(5, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .cause()
                .isInstanceOf(ClusterJobFailedException.class)
                .hasMessage("the job's workers failed: worker node 0 on h0 (rank 0) failed: step 7: the loss is NaN;"
                        + " no checkpoint was written");
        assertThat(job.heartbeat(first.getWorkerId(), 7).getDirective()).isEqualTo(Directive.END);
    }

    @Test
    void aWorldSizeThatDoesNotDivideTheBatchFailsTheJobAtOnce() {
        var joins = List.of(join(0, 1), join(1, 1), join(2, 3));
        assertThatThrownBy(() -> run.get(5, TimeUnit.SECONDS))
                .cause()
                .isInstanceOf(ClusterJobFailedException.class)
                .hasMessage("the job's workers failed: world size 5 (worker node 0 on h0 (rank 0), worker node 1 on h1"
                        + " (rank 1), worker node 2 on h2 (ranks 2-4)) does not divide batch_size 84: each rank takes"
                        + " an equal slice of every micro-batch; no checkpoint was written");
        // The workers waiting in Join are told the job has ended, and why.
        assertThatThrownBy(() -> joins.getFirst().get(5, TimeUnit.SECONDS))
                .cause()
                .hasMessageContaining("FAILED_PRECONDITION: job j has ended: world size 5");
    }

    private CompletableFuture<JoinResponse> join(int node, int devices) {
        return join(node, devices, "");
    }

    /** A join from the process with token {@code incarnation} (empty: none given). */
    private CompletableFuture<JoinResponse> join(int node, int devices, String incarnation) {
        JoinRequest request = JoinRequest.newBuilder()
                .setJobId("j")
                .setDevices(devices)
                .setHost("h" + node)
                .setNodeIndex(node)
                .setIncarnation(incarnation)
                .build();
        return CompletableFuture.supplyAsync(
                () -> {
                    try {
                        return job.join(request, () -> false);
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                },
                threads);
    }

    private static void await(java.util.function.BooleanSupplier condition)
            throws InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new TimeoutException();
            Thread.sleep(10);
        }
    }

    private static ClusterConfig config(int workers, int maxRestarts) {
        return new ClusterConfig() {
            @Override
            public OptionalInt workers() {
                return OptionalInt.of(workers);
            }

            @Override
            public Duration joinTimeout() {
                return Duration.ofSeconds(30);
            }

            @Override
            public Duration heartbeatInterval() {
                return Duration.ofSeconds(1);
            }

            @Override
            public Duration heartbeatTimeout() {
                return Duration.ofSeconds(60);
            }

            @Override
            public int maxRestarts() {
                return maxRestarts;
            }
        };
    }
}
