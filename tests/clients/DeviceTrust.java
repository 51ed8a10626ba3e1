// The phone's trust store for the Java test clients (PinClient, NscPinClient): every
// certificate in a PEM bundle is a trust anchor. Compiled next to each client.

import java.io.FileInputStream;
import java.io.InputStream;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

final class DeviceTrust {
    private DeviceTrust() {}

    static X509TrustManager load(String pemBundle) throws Exception {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        try (InputStream in = new FileInputStream(pemBundle)) {
            int n = 0;
            for (Certificate cert : factory.generateCertificates(in)) {
                store.setCertificateEntry("anchor-" + n++, cert);
            }
        }
        TrustManagerFactory tmf =
                TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(store);
        for (TrustManager tm : tmf.getTrustManagers()) {
            if (tm instanceof X509TrustManager) {
                return (X509TrustManager) tm;
            }
        }
        throw new IllegalStateException("no X509TrustManager");
    }
}
