package dev.csierofs.blobs;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback HTTPS server for tests, with a self-signed certificate made at test time: serves
 * bytes, redirects, error statuses, and responses that end early or stall; counts requests per path.
 */
public final class TestHttpsServer implements AutoCloseable {
    /** A self-signed certificate for 127.0.0.1 and localhost: its key in a PKCS12 store, itself in PEM (the CA to trust). */
    public record Certificate(Path keystore, String password, Path pem) {
        private static final String PASSWORD = "test-only";

        /** The one {@link #create} made in {@code dir}. */
        public static Certificate in(Path dir) {
            return new Certificate(dir.resolve("server.p12"), PASSWORD, dir.resolve("ca.pem"));
        }

        /** Makes one with the JDK's keytool in {@code dir}. */
        public static Certificate create(Path dir) throws IOException, InterruptedException {
            Files.createDirectories(dir);
            Path keystore = in(dir).keystore();
            Path pem = in(dir).pem();
            Files.deleteIfExists(keystore);
            String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
            run(List.of(keytool, "-genkeypair", "-alias", "server", "-keyalg", "EC", "-groupname", "secp256r1",
                    "-dname", "CN=localhost", "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "2",
                    "-storetype", "PKCS12", "-keystore", keystore.toString(), "-storepass", PASSWORD, "-keypass", PASSWORD));
            run(List.of(keytool, "-exportcert", "-rfc", "-alias", "server", "-keystore", keystore.toString(),
                    "-storepass", PASSWORD, "-file", pem.toString()));
            return new Certificate(keystore, PASSWORD, pem);
        }

        private static void run(List<String> command) throws IOException, InterruptedException {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            if (p.waitFor() != 0) {
                throw new IOException(String.join(" ", command) + " failed: " + out);
            }
        }
    }

    /** What the server does for one path. */
    @FunctionalInterface
    private interface Route {
        void handle(HttpExchange x) throws IOException, InterruptedException;
    }

    private final HttpsServer server;
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final Map<String, Route> routes = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> requests = new ConcurrentHashMap<>();
    /** Released at close: stalled responses end then. */
    private final CountDownLatch closing = new CountDownLatch(1);

    private TestHttpsServer(HttpsServer server) {
        this.server = server;
    }

    public static TestHttpsServer start(Certificate cert) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(cert.keystore())) {
            ks.load(in, cert.password().toCharArray());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, cert.password().toCharArray());
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(kmf.getKeyManagers(), null, null);
        HttpsServer https = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        https.setHttpsConfigurator(new HttpsConfigurator(ssl));
        TestHttpsServer s = new TestHttpsServer(https);
        https.setExecutor(s.pool);
        https.createContext("/", s::dispatch);
        https.start();
        return s;
    }

    private void dispatch(HttpExchange x) throws IOException {
        String path = x.getRequestURI().getPath();
        requests.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
        Route r = routes.get(path);
        try (x) {
            if (r == null) {
                x.sendResponseHeaders(404, -1);
            } else {
                r.handle(x);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public URI url(String path) {
        return URI.create("https://127.0.0.1:" + server.getAddress().getPort() + path);
    }

    /** GETs of {@code path} answered so far. */
    public int requests(String path) {
        AtomicInteger n = requests.get(path);
        return n == null ? 0 : n.get();
    }

    public void serve(String path, byte[] body) {
        serveAfter(path, body, Duration.ZERO);
    }

    /** Serves {@code body} after waiting {@code delay} (so that concurrent clients overlap). */
    public void serveAfter(String path, byte[] body, Duration delay) {
        routes.put(path, x -> {
            Thread.sleep(delay.toMillis());
            x.sendResponseHeaders(200, body.length);
            try (OutputStream out = x.getResponseBody()) {
                out.write(body);
            }
        });
    }

    /** Answers with a redirect to {@code location} (taken as is: relative, absolute, or http://). */
    public void redirect(String path, int status, String location) {
        routes.put(path, x -> {
            x.getResponseHeaders().set("Location", location);
            x.sendResponseHeaders(status, -1);
        });
    }

    public void status(String path, int status) {
        statusAfter(path, status, Duration.ZERO);
    }

    /** Answers {@code status} after waiting {@code delay}. */
    public void statusAfter(String path, int status, Duration delay) {
        routes.put(path, x -> {
            Thread.sleep(delay.toMillis());
            x.sendResponseHeaders(status, -1);
        });
    }

    /** Announces all of {@code body}, sends the first {@code sent} bytes and drops the connection. */
    public void truncate(String path, byte[] body, int sent) {
        routes.put(path, x -> {
            x.sendResponseHeaders(200, body.length);
            OutputStream out = x.getResponseBody();
            out.write(body, 0, sent);
            out.flush();
            // fewer bytes than announced: close() throws, and a handler that throws has its connection closed
            out.close();
        });
    }

    /** Announces all of {@code body}, sends the first {@code sent} bytes, then nothing until the server closes. */
    public void stall(String path, byte[] body, int sent) {
        routes.put(path, x -> {
            x.sendResponseHeaders(200, body.length);
            OutputStream out = x.getResponseBody();
            out.write(body, 0, sent);
            out.flush();
            closing.await(60, TimeUnit.SECONDS);
        });
    }

    @Override
    public void close() {
        closing.countDown();
        server.stop(0);
        pool.shutdownNow();
    }
}
