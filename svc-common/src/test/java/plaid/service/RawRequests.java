package plaid.service;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.MethodDescriptor;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/** Requests sent as hand-made wire bytes, for what a well-behaved client cannot send (strings that are not UTF-8). */
public final class RawRequests {
    private RawRequests() {}

    /** {@code method} with its request sent as the given bytes, unchecked. */
    public static <R> MethodDescriptor<byte[], R> raw(MethodDescriptor<?, R> method) {
        return method.toBuilder(
                        new MethodDescriptor.Marshaller<byte[]>() {
                            @Override
                            public InputStream stream(byte[] value) {
                                return new ByteArrayInputStream(value);
                            }

                            @Override
                            public byte[] parse(InputStream stream) {
                                try {
                                    return stream.readAllBytes();
                                } catch (IOException e) {
                                    throw new UncheckedIOException(e);
                                }
                            }
                        },
                        method.getResponseMarshaller())
                .build();
    }

    public static <R> R unary(Channel channel, MethodDescriptor<?, R> method, byte[] request) {
        return ClientCalls.blockingUnaryCall(channel, raw(method), CallOptions.DEFAULT, request);
    }

    /** The first response of a server-streaming call. */
    public static <R> R firstStreamed(Channel channel, MethodDescriptor<?, R> method, byte[] request) {
        return ClientCalls.blockingServerStreamingCall(channel, raw(method), CallOptions.DEFAULT, request)
                .next();
    }

    /** Length-delimited fields in protobuf's wire form: number, bytes, number, bytes, ... */
    public static byte[] fields(Object... numbersAndValues) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CodedOutputStream out = CodedOutputStream.newInstance(bytes);
        try {
            for (int i = 0; i < numbersAndValues.length; i += 2)
                out.writeBytes((Integer) numbersAndValues[i], ByteString.copyFrom((byte[]) numbersAndValues[i + 1]));
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** "a" followed by a lone UTF-8 lead byte: not UTF-8. */
    public static byte[] invalidUtf8() {
        return new byte[] {'a', (byte) 0xC3, (byte) 0x28};
    }
}
