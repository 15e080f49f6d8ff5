package plaid.service;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.UnknownFieldSet;
import com.google.protobuf.WireFormat;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Requests that are not valid protobuf (a string field holding invalid UTF-8, a truncated
 * message) answered INVALID_ARGUMENT naming the field. The Vert.x gRPC bridge drops a message
 * whose parsing throws and then half-closes the call, which grpc-java answers INTERNAL
 * "Half-closed without a request"; so the request marshallers of a service wrapped by
 * {@link #checked} never throw: they hand on an empty request that carries the problem, and
 * this interceptor ends the call with it.
 */
@GlobalInterceptor
@ApplicationScoped
public class MalformedRequests implements ServerInterceptor {
    /** The largest field number protobuf allows: no request message of ours uses it. */
    private static final int PROBLEM_FIELD = (1 << 29) - 1;

    /** {@code service} with request marshallers that never throw; a service's bindService returns this. */
    public static ServerServiceDefinition checked(ServerServiceDefinition service) {
        ServiceDescriptor original = service.getServiceDescriptor();
        ServiceDescriptor.Builder descriptor =
                ServiceDescriptor.newBuilder(original.getName()).setSchemaDescriptor(original.getSchemaDescriptor());
        Map<String, ServerMethodDefinition<?, ?>> methods = new LinkedHashMap<>();
        for (ServerMethodDefinition<?, ?> method : service.getMethods()) {
            ServerMethodDefinition<?, ?> wrapped = wrap(method);
            descriptor.addMethod(wrapped.getMethodDescriptor());
            methods.put(method.getMethodDescriptor().getFullMethodName(), wrapped);
        }
        ServerServiceDefinition.Builder checked = ServerServiceDefinition.builder(descriptor.build());
        methods.values().forEach(checked::addMethod);
        return checked.build();
    }

    private static <Q, R> ServerMethodDefinition<Q, R> wrap(ServerMethodDefinition<Q, R> method) {
        MethodDescriptor<Q, R> descriptor = method.getMethodDescriptor();
        if (!(descriptor.getRequestMarshaller() instanceof MethodDescriptor.PrototypeMarshaller<Q> prototyped)
                || !(prototyped.getMessagePrototype() instanceof Message prototype)) return method;
        return ServerMethodDefinition.create(
                descriptor.toBuilder(new Checked<>(prototyped, prototype), descriptor.getResponseMarshaller())
                        .build(),
                method.getServerCallHandler());
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
            private boolean refused;

            @Override
            public void onMessage(Q message) {
                if (message instanceof Message m && m.getUnknownFields().hasField(PROBLEM_FIELD)) {
                    refused = true;
                    String problem = m.getUnknownFields()
                            .getField(PROBLEM_FIELD)
                            .getLengthDelimitedList()
                            .getFirst()
                            .toStringUtf8();
                    call.close(Status.INVALID_ARGUMENT.withDescription(problem), new Metadata());
                    return;
                }
                super.onMessage(message);
            }

            @Override
            public void onHalfClose() {
                if (!refused) super.onHalfClose();
            }
        };
    }

    /** The message's parser, answering an unparsable message by an empty one that carries the problem. */
    private record Checked<Q>(MethodDescriptor.PrototypeMarshaller<Q> original, Message prototype)
            implements MethodDescriptor.PrototypeMarshaller<Q> {
        @Override
        public InputStream stream(Q value) {
            return original.stream(value);
        }

        @Override
        @SuppressWarnings("unchecked")
        public Q parse(InputStream stream) {
            byte[] bytes;
            try {
                bytes = stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            try {
                return original.parse(new ByteArrayInputStream(bytes));
            } catch (RuntimeException e) {
                String problem = describe(prototype.getDescriptorForType(), bytes, e);
                UnknownFieldSet carried = UnknownFieldSet.newBuilder()
                        .addField(
                                PROBLEM_FIELD,
                                UnknownFieldSet.Field.newBuilder()
                                        .addLengthDelimited(ByteString.copyFromUtf8(problem))
                                        .build())
                        .build();
                return (Q)
                        prototype.newBuilderForType().setUnknownFields(carried).build();
            }
        }

        @Override
        public Q getMessagePrototype() {
            return original.getMessagePrototype();
        }

        @Override
        public Class<Q> getMessageClass() {
            return original.getMessageClass();
        }
    }

    /** The refusal: the first string field holding invalid UTF-8, named as a path, else what the parser said. */
    static String describe(Descriptor type, byte[] bytes, RuntimeException failure) {
        try {
            String field = invalidUtf8Field(type, CodedInputStream.newInstance(bytes), "");
            if (field != null) return field + " is not valid UTF-8";
        } catch (IOException | RuntimeException ignored) {
            // Too malformed to walk: the parser's own message below says why.
        }
        Throwable cause = failure.getCause() instanceof InvalidProtocolBufferException parse ? parse : failure;
        return "request is not a valid " + type.getFullName() + " message: " + cause.getMessage();
    }

    /** Walks a message's wire form by its descriptor; the path of the first string field that is not UTF-8, or null. */
    private static String invalidUtf8Field(Descriptor type, CodedInputStream in, String prefix) throws IOException {
        Map<Integer, Integer> seen = new HashMap<>();
        while (!in.isAtEnd()) {
            int tag = in.readTag();
            FieldDescriptor field = type.findFieldByNumber(WireFormat.getTagFieldNumber(tag));
            boolean nested = field != null
                    && (field.getType() == FieldDescriptor.Type.STRING
                            || field.getType() == FieldDescriptor.Type.MESSAGE);
            if (!nested || WireFormat.getTagWireType(tag) != WireFormat.WIRETYPE_LENGTH_DELIMITED) {
                in.skipField(tag);
                continue;
            }
            int index = seen.merge(field.getNumber(), 1, Integer::sum) - 1;
            String name = prefix + field.getName() + (field.isRepeated() ? "[" + index + "]" : "");
            ByteString value = in.readBytes();
            if (field.getType() == FieldDescriptor.Type.STRING) {
                if (!value.isValidUtf8()) return name;
            } else {
                String inner = invalidUtf8Field(field.getMessageType(), value.newCodedInput(), name + ".");
                if (inner != null) return inner;
            }
        }
        return null;
    }
}
