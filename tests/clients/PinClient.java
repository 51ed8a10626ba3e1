// An Android-style HTTPS client on OkHttp 3.13 (Debian's libokhttp-java), for the conformance
// matrix. One process runs every variant at once, each in its own thread with its own
// OkHttpClient, so a phase costs one JVM start:
//
//   java -cp okhttp.jar:okio.jar:DIR PinClient PROXY_HOST PROXY_PORT TRUST.pem LEAF_PIN
//       INTERMEDIATE_PIN MODE=HOST...
//
// MODE is one of
//   leaf-pin          device trust store + CertificatePinner on the leaf's key
//   intermediate-pin  device trust store + CertificatePinner on the intermediate's key
//   unpinned          device trust store only
//   trust-all         a TrustManager that accepts every chain and a HostnameVerifier that
//                     accepts every name: the debug-build bug the negative kinds catch
//   chain-pin         a TrustManager that accepts a chain when any certificate in it carries
//                     the intermediate's pin, without validating the chain: the "pin anywhere
//                     in the presented chain" bug that spliced-chain catches
// Pins are base64(sha256(SubjectPublicKeyInfo)), OkHttp's "sha256/..." without the prefix.
// Prints one line per variant: "MODE HOST: HTTP 200" or "MODE HOST: ExceptionClass: message".

import java.net.InetSocketAddress;
import java.net.Proxy;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import okhttp3.CertificatePinner;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;

public final class PinClient {
    public static void main(String[] args) throws Exception {
        Proxy proxy = new Proxy(
                Proxy.Type.HTTP, new InetSocketAddress(args[0], Integer.parseInt(args[1])));
        X509TrustManager device = DeviceTrust.load(args[2]);
        String leafPin = args[3];
        String intermediatePin = args[4];
        ExecutorService threads = Executors.newCachedThreadPool();
        List<Future<String>> results = new ArrayList<>();
        for (int i = 5; i < args.length; i++) {
            String[] spec = args[i].split("=", 2);
            String mode = spec[0];
            String host = spec[1];
            results.add(threads.submit(() -> {
                String result;
                try {
                    result = fetch(client(mode, host, proxy, device, leafPin, intermediatePin), host);
                } catch (Exception e) {
                    result = "cannot run: " + e;
                }
                return mode + " " + host + ": " + result;
            }));
        }
        try {
            for (Future<String> result : results) {
                System.out.println(result.get());
            }
        } finally {
            System.out.flush();
            // Pooled connections are left open for the exit to drop: closing one makes the JDK
            // wait, up to the read timeout, for a close_notify that mitmproxy does not send.
            System.exit(0);
        }
    }

    static OkHttpClient client(String mode, String host, Proxy proxy, X509TrustManager device,
            String leafPin, String intermediatePin) throws Exception {
        OkHttpClient.Builder builder = new OkHttpClient.Builder()
                .proxy(proxy)
                .connectTimeout(5, TimeUnit.SECONDS)
                .readTimeout(2, TimeUnit.SECONDS)
                .retryOnConnectionFailure(false);
        X509TrustManager trust = device;
        switch (mode) {
            case "leaf-pin":
                builder.certificatePinner(pinner(host, leafPin));
                break;
            case "intermediate-pin":
                builder.certificatePinner(pinner(host, intermediatePin));
                break;
            case "unpinned":
                break;
            case "trust-all":
                trust = new TrustAll();
                builder.hostnameVerifier((name, session) -> true);
                break;
            case "chain-pin":
                trust = new PinAnywhere(intermediatePin);
                break;
            default:
                throw new IllegalArgumentException("unknown mode " + mode);
        }
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(null, new TrustManager[] {trust}, new SecureRandom());
        return builder.sslSocketFactory(tls.getSocketFactory(), trust).build();
    }

    static CertificatePinner pinner(String host, String pin) {
        return new CertificatePinner.Builder().add(host, "sha256/" + pin).build();
    }

    static String fetch(OkHttpClient client, String host) {
        Request request = new Request.Builder()
                .url("https://" + host + "/v1/account")
                .header("Authorization", "Bearer okhttp-secret")
                .build();
        try (Response response = client.newCall(request).execute()) {
            response.body().string();
            return "HTTP " + response.code();
        } catch (Exception e) {
            String message = String.valueOf(e.getMessage()).split("\n", 2)[0];
            return e.getClass().getSimpleName() + ": " + message;
        }
    }

    /** Accepts a chain if any certificate in it has the pinned key; validates nothing else. */
    static final class PinAnywhere implements X509TrustManager {
        private final String pin;

        PinAnywhere(String pin) {
            this.pin = pin;
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType)
                throws java.security.cert.CertificateException {
            for (X509Certificate cert : chain) {
                try {
                    byte[] spki = java.security.MessageDigest.getInstance("SHA-256")
                            .digest(cert.getPublicKey().getEncoded());
                    if (java.util.Base64.getEncoder().encodeToString(spki).equals(pin)) {
                        return;
                    }
                } catch (java.security.NoSuchAlgorithmException e) {
                    throw new java.security.cert.CertificateException(e);
                }
            }
            throw new java.security.cert.CertificateException("no pinned key in the chain");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }

    /** The trust-all TrustManager shipped from a debug build. */
    static final class TrustAll implements X509TrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
