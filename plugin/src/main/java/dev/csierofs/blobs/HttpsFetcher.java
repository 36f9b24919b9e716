package dev.csierofs.blobs;

import dev.csierofs.blobs.BlobFetchException.Failure;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.KeyStoreException;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * GETs of {@code https://} URLs for the blob store: HTTP/2 or 1.1, redirects followed (registries
 * redirect blob GETs to object storage) but only to {@code https://}, a connect timeout, and a
 * stall timeout: no response, or no body bytes, for that long fails the GET (a server that keeps
 * the connection open and sends nothing would otherwise hold a publish forever).
 */
public final class HttpsFetcher implements AutoCloseable {
    public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(30);
    public static final Duration STALL_TIMEOUT = Duration.ofSeconds(60);
    private static final int MAX_REDIRECTS = 10;

    /** Whom to trust; null: the JVM's default authorities. */
    private final SSLContext ssl;
    private final Duration connectTimeout;
    /**
     * Made at the first download: the JVM's default trust store alone is about 3 MiB of parsed
     * certificates, and most nodes never fetch an https:// image. Guarded by this.
     */
    private HttpClient client;
    private boolean closed; // guarded by this
    private final Duration stallTimeout;
    private final ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "https-stall-watchdog");
        t.setDaemon(true);
        return t;
    });

    /** {@code ssl}: whom to trust (see {@link #trusting}); null for the JVM's default authorities. */
    public HttpsFetcher(SSLContext ssl, Duration connectTimeout, Duration stallTimeout) {
        this.ssl = ssl;
        this.connectTimeout = connectTimeout;
        this.stallTimeout = stallTimeout;
    }

    private synchronized HttpClient client() throws BlobFetchException {
        if (closed) {
            throw new BlobFetchException(Failure.TRANSIENT, "the plugin is stopping", null);
        }
        if (client == null) {
            SSLContext trust = ssl;
            if (trust == null) {
                try {
                    trust = SSLContext.getDefault();
                } catch (GeneralSecurityException e) {
                    throw new BlobFetchException(Failure.REFUSED, "cannot set up TLS trust: " + e.getMessage(), e);
                }
            }
            client = HttpClient.newBuilder()
                    .version(HttpClient.Version.HTTP_2) // negotiated by ALPN; HTTP/1.1 where the server has no HTTP/2
                    .followRedirects(HttpClient.Redirect.NEVER) // followed here, so that none leads to http://
                    .connectTimeout(connectTimeout)
                    .sslContext(trust)
                    .build();
        }
        return client;
    }

    /**
     * A TLS context trusting the JVM's default certificate authorities and, in addition, those in
     * {@code caFile} (PEM; for servers with certificates from a private CA). One trust manager over
     * the union of both sets of anchors: a chain that either would accept is accepted. Null
     * without a CA file: {@link HttpsFetcher} then loads the JVM's defaults when it first needs them.
     */
    public static SSLContext trusting(Optional<Path> caFile) throws IOException {
        try {
            if (caFile.isEmpty()) {
                return null; // the JVM's defaults, loaded at the first download
            }
            SSLContext ssl = SSLContext.getInstance("TLS");
            ssl.init(null, new TrustManager[] {trustManager(caFile.get())}, null);
            return ssl;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot set up TLS trust" + caFile.map(f -> " with " + f).orElse("") + ": " + e.getMessage(), e);
        }
    }

    /** A PKIX trust manager whose anchors are the JVM's default ones plus the certificates in {@code caFile}. */
    static X509TrustManager trustManager(Path caFile) throws IOException, GeneralSecurityException {
        List<X509Certificate> extra = readPem(caFile);
        TrustManagerFactory defaults = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        defaults.init((KeyStore) null);
        KeyStore anchors = KeyStore.getInstance(KeyStore.getDefaultType());
        anchors.load(null, null);
        int n = 0;
        for (TrustManager tm : defaults.getTrustManagers()) {
            if (tm instanceof X509TrustManager x) {
                for (X509Certificate c : x.getAcceptedIssuers()) {
                    anchors.setCertificateEntry("default-" + n++, c);
                }
            }
        }
        for (X509Certificate c : extra) {
            anchors.setCertificateEntry("ca-file-" + n++, c);
        }
        TrustManagerFactory both = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        both.init(anchors);
        for (TrustManager tm : both.getTrustManagers()) {
            if (tm instanceof X509TrustManager x) {
                return x;
            }
        }
        throw new KeyStoreException("no X.509 trust manager from " + both.getAlgorithm());
    }

    /** The certificates in a PEM file (text around the blocks is allowed, as in CA bundles); at least one. */
    static List<X509Certificate> readPem(Path file) throws IOException {
        Collection<? extends Certificate> certs;
        try (InputStream in = Files.newInputStream(file)) {
            certs = CertificateFactory.getInstance("X.509").generateCertificates(in);
        } catch (NoSuchFileException e) {
            throw new IOException("the CA file " + file + " does not exist (--ca-file, CSI_CA_FILE)");
        } catch (CertificateException e) {
            throw new IOException("the CA file " + file + " is not PEM certificates (-----BEGIN CERTIFICATE-----): " + e.getMessage());
        }
        List<X509Certificate> out = new ArrayList<>();
        for (Certificate c : certs) {
            out.add((X509Certificate) c);
        }
        if (out.isEmpty()) {
            throw new IOException("the CA file " + file + " has no certificate (expected PEM: -----BEGIN CERTIFICATE-----)");
        }
        return out;
    }

    /**
     * GETs {@code url}, following redirects to https:// URLs; the response is 200 with its body
     * not yet read. Fails with a {@link BlobFetchException} naming the URL and what went wrong.
     */
    public Response get(URI url) throws BlobFetchException, InterruptedIOException {
        URI at = url;
        for (int hops = 0; ; hops++) {
            HttpRequest request = HttpRequest.newBuilder(at).GET().timeout(stallTimeout)
                    .header("User-Agent", "csi-driver-erofs").build();
            HttpResponse<InputStream> r;
            try {
                r = client().send(request, HttpResponse.BodyHandlers.ofInputStream());
            } catch (HttpConnectTimeoutException e) {
                throw new BlobFetchException(Failure.TRANSIENT, "GET " + describe(url, at) + ": no connection to " + at.getHost()
                        + " within " + connectTimeout.toSeconds() + " s", e);
            } catch (HttpTimeoutException e) {
                throw new BlobFetchException(Failure.TRANSIENT, "GET " + describe(url, at) + ": no response within "
                        + stallTimeout.toSeconds() + " s", e);
            } catch (SSLHandshakeException e) {
                throw new BlobFetchException(Failure.REFUSED, "GET " + describe(url, at) + ": TLS with " + at.getHost() + " failed: "
                        + e.getMessage() + " (a server certificate from a private CA needs that CA in --ca-file)", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted during GET " + url);
            } catch (java.net.ConnectException e) {
                throw new BlobFetchException(Failure.TRANSIENT, "GET " + describe(url, at) + ": cannot connect to " + at.getHost()
                        + (at.getPort() < 0 ? "" : ":" + at.getPort()) + " (" + explain(e) + ")", e);
            } catch (IOException e) {
                throw new BlobFetchException(Failure.TRANSIENT, "GET " + describe(url, at) + ": " + explain(e), e);
            }
            int status = r.statusCode();
            if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
                closeQuietly(r.body());
                String location = r.headers().firstValue("location").orElse(null);
                if (location == null) {
                    throw new BlobFetchException(Failure.REFUSED, "GET " + describe(url, at) + ": redirect (HTTP " + status
                            + ") without a Location");
                }
                URI next;
                try {
                    next = at.resolve(location.trim());
                } catch (IllegalArgumentException e) {
                    throw new BlobFetchException(Failure.REFUSED, "GET " + describe(url, at) + ": redirect to an invalid URL: " + e.getMessage());
                }
                if (!"https".equalsIgnoreCase(next.getScheme())) {
                    throw new BlobFetchException(Failure.REFUSED, "GET " + describe(url, at) + " redirects to " + withoutQuery(next)
                            + ": only https:// is followed");
                }
                if (hops == MAX_REDIRECTS) {
                    throw new BlobFetchException(Failure.REFUSED, "GET " + url + ": more than " + MAX_REDIRECTS + " redirects");
                }
                at = next;
                continue;
            }
            if (status != 200) {
                closeQuietly(r.body());
                Failure f = status == 404 || status == 410 ? Failure.NOT_FOUND
                        : status >= 500 || status == 408 || status == 429 ? Failure.TRANSIENT : Failure.REFUSED;
                throw new BlobFetchException(f, "GET " + describe(url, at) + " answered HTTP status " + status
                        + (f == Failure.NOT_FOUND ? " (not found)" : ""));
            }
            return new Response(url, at, r.headers().firstValueAsLong("content-length").orElse(-1), r.body());
        }
    }

    /** The URL asked for, and where a redirect led (without user info or query: presigned URLs carry credentials there). */
    private static String describe(URI asked, URI at) {
        return asked.equals(at) ? withoutQuery(asked) : withoutQuery(asked) + " (redirected to " + withoutQuery(at) + ")";
    }

    /** {@code u} for logs and messages: without its query, where presigned URLs carry their credentials. */
    static String withoutQuery(URI u) {
        return u.getScheme() + "://" + u.getHost() + (u.getPort() < 0 ? "" : ":" + u.getPort())
                + (u.getRawPath() == null ? "" : u.getRawPath()) + (u.getRawQuery() == null ? "" : "?...");
    }

    /** The exception and its first message: HttpClient often wraps the one that says what happened ("Connection refused"). */
    private static String explain(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t.getMessage() != null) {
                return e.getClass().getSimpleName() + ": " + t.getMessage();
            }
        }
        return e.getClass().getName();
    }

    private static void closeQuietly(Closeable c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // given up anyway
        }
    }

    /** A 200 response whose body is being read. Reads fail once no byte came for the stall timeout. */
    public final class Response implements Closeable {
        private final URI url;
        private final URI servedFrom;
        private final long length;
        private final InputStream body;
        private final ScheduledFuture<?> check;
        private volatile long lastProgressNanos = System.nanoTime();
        private volatile boolean stalled;
        private long received;

        private Response(URI url, URI servedFrom, long length, InputStream body) {
            this.url = url;
            this.servedFrom = servedFrom;
            this.length = length;
            this.body = body;
            long period = Math.max(50, stallTimeout.toMillis() / 4);
            this.check = watchdog.scheduleAtFixedRate(this::checkProgress, period, period, TimeUnit.MILLISECONDS);
        }

        /** Closing the stream from here wakes a read blocked on it, which then fails. */
        private void checkProgress() {
            if (System.nanoTime() - lastProgressNanos > stallTimeout.toNanos()) {
                stalled = true;
                check.cancel(false);
                closeQuietly(body);
            }
        }

        /** The body's length as the server announced it; -1 if it did not. */
        public long length() {
            return length;
        }

        /** Where the body came from after redirects (for logs: without the query). */
        public String servedFrom() {
            return withoutQuery(servedFrom);
        }

        /** Like {@link InputStream#read(byte[])}; a body shorter than announced is a failure, not an end. */
        public int read(byte[] buf) throws BlobFetchException {
            int n;
            try {
                n = body.read(buf);
            } catch (IOException e) {
                if (stalled) {
                    throw new BlobFetchException(Failure.TRANSIENT, "GET " + describe(url, servedFrom) + ": no data for "
                            + stallTimeout.toSeconds() + " s after " + received + " bytes", e);
                }
                throw new BlobFetchException(Failure.TRANSIENT, "GET " + describe(url, servedFrom) + ": the response ended after "
                        + received + (length >= 0 ? " of " + length : "") + " bytes: " + e.getMessage(), e);
            }
            if (n > 0) {
                received += n;
                lastProgressNanos = System.nanoTime();
            } else if (n < 0 && length >= 0 && received != length) {
                throw new BlobFetchException(Failure.TRANSIENT, "GET " + describe(url, servedFrom) + ": the response ended after "
                        + received + " of " + length + " bytes");
            }
            return n;
        }

        @Override
        public void close() {
            check.cancel(false);
            closeQuietly(body);
        }
    }

    @Override
    public void close() {
        watchdog.shutdownNow();
        synchronized (this) {
            closed = true;
            if (client != null) {
                client.shutdownNow();
            }
        }
    }
}
