package plaid.trainer;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import com.google.protobuf.util.JsonFormat;
import java.time.Instant;
import java.util.List;
import plaid.v1.CheckpointInfo;
import plaid.v1.Job;
import plaid.v1.StepMetrics;
import plaid.v1.TrainingSpec;
import plaid.v1.ValidationResult;

/** Between stored rows (protobuf JSON columns) and the API's messages. */
final class Messages {
    private static final JsonFormat.Printer PRINTER = JsonFormat.printer().omittingInsignificantWhitespace();
    private static final JsonFormat.Parser PARSER = JsonFormat.parser();

    private Messages() {}

    static String json(Message message) {
        try {
            return PRINTER.print(message);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(
                    "cannot print " + message.getDescriptorForType().getFullName(), e);
        }
    }

    static <B extends Message.Builder> B parse(String json, B builder) {
        try {
            PARSER.merge(json, builder);
            return builder;
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(
                    "stored JSON is not a " + builder.getDescriptorForType().getFullName(), e);
        }
    }

    static TrainingSpec spec(JobRecord job) {
        return parse(job.spec, TrainingSpec.newBuilder()).build();
    }

    static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder()
                .setSeconds(instant.getEpochSecond())
                .setNanos(instant.getNano())
                .build();
    }

    static CheckpointInfo checkpoint(CheckpointRecord record) {
        return CheckpointInfo.newBuilder()
                .setStep(record.step)
                .setPath(record.path)
                .setWrittenAt(timestamp(record.writtenAt))
                .setResumable(record.resumable)
                .build();
    }

    static Job job(JobRecord record, List<CheckpointRecord> checkpoints) {
        Job.Builder job = Job.newBuilder()
                .setId(record.id)
                .setDisplayName(record.displayName)
                .setSpec(spec(record))
                .setState(record.state)
                .setCreatedAt(timestamp(record.createdAt))
                .setStep(record.step)
                .setTotalSteps(record.totalSteps);
        if (record.startedAt != null) job.setStartedAt(timestamp(record.startedAt));
        if (record.finishedAt != null) job.setFinishedAt(timestamp(record.finishedAt));
        if (record.latestMetrics != null) job.setLatestMetrics(parse(record.latestMetrics, StepMetrics.newBuilder()));
        if (record.latestValidation != null)
            job.setLatestValidation(parse(record.latestValidation, ValidationResult.newBuilder()));
        if (record.failure != null) job.setFailure(record.failure);
        checkpoints.forEach(c -> job.addCheckpoints(checkpoint(c)));
        return job.build();
    }
}
