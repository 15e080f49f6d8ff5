package plaid.backend;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The reference {@link Collective} across processes: ranks of CPU workers on several machines
 * (or JVMs on loopback) meeting over TCP. A test and development aid, as {@link
 * InProcessCollective} is in one JVM: readable and exact, not fast. It lets the multi-machine
 * code path run where CI runs; GPUs use NCCL.
 *
 * <p>A star through rank 0: rank 0 listens (its address is the group's id, {@link #address}),
 * every other rank connects once and says its rank. Each collective, the other ranks send
 * their values to rank 0, which combines them in rank order (so the result does not depend on
 * arrival order, and equals the in-process collective's) and sends the result back. Every
 * call is synchronous; {@link Pending#await} has nothing left to do.
 */
public final class SocketCollective implements Collective {
    private static final int FLOATS = 1, DOUBLES = 2;
    private final int rank, ranks;
    private final ComputeBackend backend;
    /** Rank 0: the link to each rank (null at index 0). Others: the one link to rank 0, at index 0. */
    private final List<Link> links;

    private volatile Throwable aborted;

    private SocketCollective(int rank, int ranks, ComputeBackend backend, List<Link> links) {
        this.rank = rank;
        this.ranks = ranks;
        this.backend = backend;
        this.links = links;
    }

    /** Rank 0's listening socket, on every interface and a free port; pass it to {@link #root}. */
    public static ServerSocket listen() throws IOException {
        ServerSocket server = new ServerSocket();
        server.bind(new InetSocketAddress(0));
        return server;
    }

    /** The group id the other ranks connect to: {@code host:port} of rank 0's socket, as bytes. */
    public static byte[] address(ServerSocket server, String host) {
        return (host + ":" + server.getLocalPort()).getBytes(StandardCharsets.UTF_8);
    }

    /** Rank 0: waits (up to {@code timeoutMillis}) until the other {@code ranks - 1} ranks connected. */
    public static SocketCollective root(ServerSocket server, int ranks, ComputeBackend backend, int timeoutMillis)
            throws IOException {
        List<Link> links = new ArrayList<>();
        for (int r = 0; r < ranks; r++) links.add(null);
        server.setSoTimeout(timeoutMillis);
        try (server) {
            for (int joined = 1; joined < ranks; joined++) {
                Link link = new Link(server.accept());
                int peer = link.in.readInt();
                if (peer <= 0 || peer >= ranks || links.get(peer) != null)
                    throw new IOException("a peer said it is rank " + peer + " of " + ranks);
                links.set(peer, link);
            }
        }
        return new SocketCollective(0, ranks, backend, links);
    }

    /** Rank {@code rank} (not 0): connects to the group whose id is {@code address}. */
    public static SocketCollective join(byte[] address, int rank, int ranks, ComputeBackend backend, int timeoutMillis)
            throws IOException {
        if (rank <= 0 || rank >= ranks)
            throw new IllegalArgumentException("rank " + rank + " outside [1, " + ranks + ")");
        String text = new String(address, StandardCharsets.UTF_8);
        int colon = text.lastIndexOf(':');
        if (colon < 0) throw new IllegalArgumentException("a socket group id is host:port, got '" + text + "'");
        Socket socket = new Socket();
        socket.connect(
                new InetSocketAddress(text.substring(0, colon), Integer.parseInt(text.substring(colon + 1))),
                timeoutMillis);
        Link link = new Link(socket);
        link.out.writeInt(rank);
        link.out.flush();
        return new SocketCollective(rank, ranks, backend, List.of(link));
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int ranks() {
        return ranks;
    }

    @Override
    public Pending allReduceAsync(List<Tensor> bucket, Op op) {
        if (ranks == 1) return Pending.DONE;
        for (Tensor t : bucket) {
            float[] values = backend.download(t);
            double[] reduced = exchange(FLOATS, toDoubles(values), op, -1);
            for (int k = 0; k < values.length; k++) values[k] = (float) reduced[k];
            backend.upload(values, t);
        }
        return Pending.DONE;
    }

    @Override
    public double[] allReduce(double[] values, Op op) {
        if (ranks == 1) return values.clone();
        return exchange(DOUBLES, values, op, -1);
    }

    @Override
    public void broadcast(Tensor t, int root) {
        if (root < 0 || root >= ranks)
            throw new IllegalArgumentException("broadcast root " + root + " outside [0, " + ranks + ")");
        if (ranks == 1) return;
        float[] values = backend.download(t);
        double[] result = exchange(FLOATS, toDoubles(values), Op.SUM, root);
        if (rank != root) {
            for (int k = 0; k < values.length; k++) values[k] = (float) result[k];
            backend.upload(values, t);
        }
    }

    @Override
    public void barrier() {
        if (ranks > 1) exchange(DOUBLES, new double[0], Op.SUM, -1);
    }

    /**
     * One collective: every rank's {@code values} to rank 0, the result back. Floats travel as
     * floats and are summed in float, in rank order, as {@link InProcessCollective} sums them;
     * {@code root >= 0} picks that rank's values instead of reducing (a broadcast).
     */
    private double[] exchange(int kind, double[] values, Op op, int root) {
        if (aborted != null) throw failed(aborted);
        try {
            if (rank != 0) {
                Link link = links.getFirst();
                link.write(kind, values);
                return link.read(kind);
            }
            double[][] all = new double[ranks][];
            all[0] = values;
            for (int r = 1; r < ranks; r++) all[r] = links.get(r).read(kind);
            double[] result = root >= 0 ? all[root] : reduce(kind, all, op);
            for (int r = 1; r < ranks; r++) links.get(r).write(kind, result);
            return result;
        } catch (IOException | RuntimeException e) {
            Throwable cause = aborted != null ? aborted : e;
            abort(cause);
            throw failed(cause);
        }
    }

    private static double[] reduce(int kind, double[][] all, Op op) {
        double[] acc = all[0].clone();
        float[] f = new float[acc.length];
        if (kind == FLOATS) for (int k = 0; k < acc.length; k++) f[k] = (float) acc[k];
        for (int r = 1; r < all.length; r++) {
            if (all[r].length != acc.length)
                throw new IllegalArgumentException(
                        "all-reduce: rank " + r + " passed " + all[r].length + " values, rank 0 " + acc.length);
            if (kind == FLOATS) for (int k = 0; k < acc.length; k++) f[k] += (float) all[r][k];
            else for (int k = 0; k < acc.length; k++) acc[k] += all[r][k];
        }
        if (kind == FLOATS) {
            if (op == Op.MEAN) for (int k = 0; k < f.length; k++) f[k] /= all.length;
            for (int k = 0; k < f.length; k++) acc[k] = f[k];
        } else if (op == Op.MEAN) for (int k = 0; k < acc.length; k++) acc[k] /= all.length;
        return acc;
    }

    private static double[] toDoubles(float[] values) {
        double[] d = new double[values.length];
        for (int k = 0; k < values.length; k++) d[k] = values[k];
        return d;
    }

    private static IllegalStateException failed(Throwable cause) {
        return new IllegalStateException("collective failed: " + cause.getMessage(), cause);
    }

    /** Closes the sockets: a rank blocked reading from a lost peer wakes with an error. */
    @Override
    public void abort(Throwable cause) {
        if (aborted == null) aborted = cause;
        close();
    }

    @Override
    public void close() {
        for (Link link : links)
            if (link != null) {
                try {
                    link.socket.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
            }
    }

    /** One TCP connection and its buffered streams. */
    private static final class Link {
        final Socket socket;
        final DataInputStream in;
        final DataOutputStream out;

        Link(Socket socket) throws IOException {
            this.socket = socket;
            socket.setTcpNoDelay(true);
            this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 1 << 16));
            this.out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 1 << 16));
        }

        void write(int kind, double[] values) throws IOException {
            out.writeInt(kind);
            out.writeInt(values.length);
            if (kind == FLOATS) for (double v : values) out.writeFloat((float) v);
            else for (double v : values) out.writeDouble(v);
            out.flush();
        }

        double[] read(int kind) throws IOException {
            int got = in.readInt();
            if (got != kind) throw new IOException("the peers' collectives differ (kind " + got + " for " + kind + ")");
            int n = in.readInt();
            double[] values = new double[n];
            if (kind == FLOATS) for (int k = 0; k < n; k++) values[k] = in.readFloat();
            else for (int k = 0; k < n; k++) values[k] = in.readDouble();
            return values;
        }
    }
}
