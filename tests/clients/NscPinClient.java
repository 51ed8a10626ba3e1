// An in-handshake pinning HTTPS client on the plain JDK, the way Android's network security
// config pins: the pin is checked inside the TrustManager's checkServerTrusted, so a mismatch
// fails the handshake itself (the client sends an alert), unlike OkHttp's CertificatePinner,
// which checks after it.
//
//   java -cp DIR NscPinClient PROXY_HOST PROXY_PORT TRUST.pem HOST PIN...
//
// TRUST.pem is the device's trust store (every certificate in it is an anchor); each PIN is
// base64(sha256(SubjectPublicKeyInfo)), the <pin digest="SHA-256"> of a network security config.
// The chain must be trusted AND one of its certificates must carry a pinned key.
// Prints one line: "HOST: HTTP 200" or "HOST: ExceptionClass: message".

import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.URL;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashSet;
import java.util.Set;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

public final class NscPinClient {
    public static void main(String[] args) throws Exception {
        Proxy proxy = new Proxy(
                Proxy.Type.HTTP, new InetSocketAddress(args[0], Integer.parseInt(args[1])));
        X509TrustManager device = DeviceTrust.load(args[2]);
        String host = args[3];
        Set<String> pins = new HashSet<>(Arrays.asList(args).subList(4, args.length));
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(null, new TrustManager[] {new Pinning(device, pins)}, new SecureRandom());
        String result;
        try {
            HttpsURLConnection conn =
                    (HttpsURLConnection) new URL("https://" + host + "/v1/me").openConnection(proxy);
            conn.setSSLSocketFactory(tls.getSocketFactory());
            conn.setConnectTimeout(5000);
            conn.setReadTimeout(5000);
            conn.setRequestProperty("Authorization", "Bearer nsc-secret");
            result = "HTTP " + conn.getResponseCode();
            conn.getInputStream().readAllBytes();
        } catch (Exception e) {
            String message = String.valueOf(e.getMessage()).split("\n", 2)[0];
            result = e.getClass().getSimpleName() + ": " + message;
        }
        System.out.println(host + ": " + result);
        System.out.flush();
        System.exit(0);
    }

    /** The platform's chain validation, then the pin-set, inside the handshake. */
    static final class Pinning implements X509TrustManager {
        private final X509TrustManager device;
        private final Set<String> pins;

        Pinning(X509TrustManager device, Set<String> pins) {
            this.device = device;
            this.pins = pins;
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType)
                throws CertificateException {
            device.checkServerTrusted(chain, authType);
            for (X509Certificate cert : chain) {
                if (pins.contains(spkiPin(cert))) {
                    return;
                }
            }
            throw new CertificateException("Pin verification failed");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType)
                throws CertificateException {
            device.checkClientTrusted(chain, authType);
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return device.getAcceptedIssuers();
        }
    }

    static String spkiPin(X509Certificate cert) throws CertificateException {
        try {
            byte[] spki = cert.getPublicKey().getEncoded(); // X.509 SubjectPublicKeyInfo
            return Base64.getEncoder().encodeToString(
                    MessageDigest.getInstance("SHA-256").digest(spki));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new CertificateException(e);
        }
    }
}
