// Apache Commons Net FTPSClient on its defaults (explicit TLS, passive mode), with the OCES client
// certificate as its key manager: runs the interop scenario's steps and prints one JSON line each.
// Usage: java -cp commons-net.jar:. FtpsScenario HOST PORT CA_PEM CERT_PEM KEY_PEM STEPS_FILE
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.*;
import javax.net.ssl.*;
import org.apache.commons.net.ftp.*;

public class FtpsScenario {
    public static void main(String[] args) throws Exception {
        FTPSClient ftp = new FTPSClient("TLS", false);
        ftp.setKeyManager(keyManager(args[3], args[4]));
        ftp.setTrustManager(trustManager(args[2]));
        // Commons Net speaks ISO-8859-1 on the control connection unless told: Danish file names need UTF-8.
        ftp.setControlEncoding("UTF-8");
        ftp.setConnectTimeout(15000);
        ftp.setDefaultTimeout(30000);
        ftp.connect(args[0], Integer.parseInt(args[1]));
        report("connect", ftp.getReplyCode() == 220, ftp, null, null);
        report("login", ftp.login("anonymous", "guest"), ftp, null, null);
        ftp.execPBSZ(0);
        ftp.execPROT("P");
        ftp.enterLocalPassiveMode();
        ftp.setFileType(FTP.BINARY_FILE_TYPE);
        for (String line : Files.readAllLines(Paths.get(args[5]), StandardCharsets.UTF_8)) {
            if (line.isEmpty()) continue;
            String[] s = line.split("\t", -1);
            try {
                step(ftp, s);
            } catch (IOException e) { // a refused data connection surfaces as an exception
                report(s[0], false, ftp, null, e.toString());
            }
        }
        ftp.logout();
        ftp.disconnect();
    }

    static void step(FTPSClient ftp, String[] s) throws IOException {
        switch (s[0]) {
            case "list": {
                FTPFile[] files = s[1].isEmpty() ? ftp.listFiles() : ftp.listFiles(s[1]);
                List<String> names = new ArrayList<>();
                for (FTPFile f : files) if (f != null) names.add(f.getName());
                report(s[0], FTPReply.isPositiveCompletion(ftp.getReplyCode()), ftp, names, null);
                break;
            }
            case "cwd": report(s[0], ftp.changeWorkingDirectory(s[1]), ftp, null, null); break;
            case "cdup": report(s[0], ftp.changeToParentDirectory(), ftp, null, null); break;
            case "mkd": report(s[0], ftp.makeDirectory(s[1]), ftp, null, null); break;
            case "mfmt": report(s[0], ftp.setModificationTime(s[1], s[2]), ftp, null, null); break;
            case "dele": report(s[0], ftp.deleteFile(s[1]), ftp, null, null); break;
            case "put":
                try (InputStream in = new FileInputStream(s[1])) {
                    report(s[0], ftp.storeFile(s[2], in), ftp, null, null);
                }
                break;
            case "get":
                try (OutputStream out = new FileOutputStream(s[2])) {
                    report(s[0], ftp.retrieveFile(s[1], out), ftp, null, null);
                }
                break;
            default: throw new IllegalArgumentException("unknown step " + s[0]);
        }
    }

    static void report(String op, boolean ok, FTPSClient ftp, List<String> names, String error) {
        StringBuilder json = new StringBuilder("{\"op\":").append(quote(op)).append(",\"ok\":").append(ok);
        json.append(",\"code\":").append(ftp.getReplyCode()).append(",\"reply\":").append(quote(ftp.getReplyString().trim()));
        if (error != null) json.append(",\"error\":").append(quote(error));
        if (names != null) {
            json.append(",\"names\":[");
            for (int i = 0; i < names.size(); i++) json.append(i > 0 ? "," : "").append(quote(names.get(i)));
            json.append("]");
        }
        System.out.println(json.append("}"));
        System.out.flush();
    }

    static String quote(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) out.append(String.format("\\u%04x", (int) c)); // ASCII in any locale
            else out.append(c);
        }
        return out.append('"').toString();
    }

    // The certificate chain and PKCS#8 EC key as PEM files, the way a gateway user holds them.
    static KeyManager keyManager(String certPem, String keyPem) throws Exception {
        Collection<? extends java.security.cert.Certificate> chain;
        try (InputStream in = new FileInputStream(certPem)) {
            chain = CertificateFactory.getInstance("X.509").generateCertificates(in);
        }
        String pem = new String(Files.readAllBytes(Paths.get(keyPem)), StandardCharsets.US_ASCII);
        byte[] der = Base64.getMimeDecoder().decode(pem.replaceAll("-----[A-Z ]+-----", ""));
        PrivateKey key = KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(der));
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setKeyEntry("oces", key, new char[0], chain.toArray(new java.security.cert.Certificate[0]));
        KeyManagerFactory factory = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        factory.init(store, new char[0]);
        return factory.getKeyManagers()[0];
    }

    static TrustManager trustManager(String caPem) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        try (InputStream in = new FileInputStream(caPem)) {
            int i = 0;
            for (java.security.cert.Certificate ca : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("ca" + i++, ca);
            }
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(store);
        return factory.getTrustManagers()[0];
    }
}
