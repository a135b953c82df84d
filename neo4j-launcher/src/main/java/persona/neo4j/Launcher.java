package persona.neo4j;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import inet.ipaddr.IPAddressString;
import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.QueryExecutionException;
import org.neo4j.graphdb.Result;
import org.neo4j.graphdb.Transaction;

/**
 * Runs Neo4j Community embedded in this JVM as a Bolt server for persona-kg.
 *
 * <p>The project needs a real Neo4j server for its Neo4j backend and tests, on machines with Java and
 * Maven but no Docker engine and no way to download a server tarball. Neo4j's own
 * {@link DatabaseManagementServiceBuilder} starts the same kernel, Cypher runtime, Bolt connector and
 * vector indexes as the packaged server; this class only configures it and keeps it running.
 *
 * <p>Options (each flag overrides its environment variable, which overrides the default):
 *
 * <pre>
 *   --host H      NEO4J_HOST       127.0.0.1     Bolt listen address (loopback only by default)
 *   --port N      NEO4J_PORT       7687          Bolt port
 *   --data DIR    NEO4J_DATA_DIR   .neo4j/data   store, transaction logs, auth and logs
 *   --pagecache S NEO4J_PAGECACHE  512m          page cache size (k/m/g suffix)
 *   --tx-max S    NEO4J_TX_MAX     2g            memory cap over all running transactions
 *   --conf FILE   NEO4J_CONF       (none)        extra neo4j.conf-style settings, applied last
 *   --load-csv M  NEO4J_LOAD_CSV   none          what LOAD CSV may read: none | import | any
 *                 NEO4J_PASSWORD   persona-kg    password of user "neo4j" (set at every start)
 * </pre>
 *
 * <p>{@code LOAD CSV} is closed by default: the import directory is {@code <data>/../import} (never the
 * whole file system), file URLs are refused unless {@code --load-csv import}, and every remote address is
 * on Cypher's IP block list unless {@code --load-csv any}. A read-only client therefore cannot read the
 * server's files or make it fetch URLs.
 *
 * <p>Prints one line starting with {@code READY} once Bolt accepts connections, and shuts the database
 * down cleanly on SIGTERM/SIGINT through a shutdown hook.
 */
public final class Launcher {

    private static final String DEFAULT_PASSWORD = "persona-kg";

    private Launcher() {}

    public static void main(String[] args) {
        Map<String, String> opts;
        try {
            opts = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("neo4j-launcher: " + e.getMessage());
            usage(System.err);
            System.exit(2);
            return;
        }
        if (opts.containsKey("help")) {
            usage(System.out);
            return;
        }
        try {
            run(opts);
        } catch (Throwable t) {
            System.err.println("neo4j-launcher: FAILED to start Neo4j: " + t);
            t.printStackTrace(System.err);
            System.exit(1);
        }
    }

    private static void run(Map<String, String> opts) throws Exception {
        String host = opt(opts, "host", "NEO4J_HOST", "127.0.0.1");
        int port = parsePort(opt(opts, "port", "NEO4J_PORT", "7687"));
        Path data = Path.of(opt(opts, "data", "NEO4J_DATA_DIR", ".neo4j/data")).toAbsolutePath().normalize();
        long pageCache = parseBytes("pagecache", opt(opts, "pagecache", "NEO4J_PAGECACHE", "512m"));
        long txMax = parseBytes("tx-max", opt(opts, "tx-max", "NEO4J_TX_MAX", "2g"));
        String conf = opt(opts, "conf", "NEO4J_CONF", "");
        String loadCsv = opt(opts, "load-csv", "NEO4J_LOAD_CSV", "none");
        if (!List.of("none", "import", "any").contains(loadCsv)) {
            throw new IllegalArgumentException("load-csv must be none, import or any, got '" + loadCsv + "'");
        }
        Path importDir = data.getParent().resolve("import");
        Files.createDirectories(importDir);
        String password = System.getenv().getOrDefault("NEO4J_PASSWORD", DEFAULT_PASSWORD);
        if (password.length() < 8) {
            // Neo4j refuses shorter passwords (dbms.security.auth_minimum_password_length = 8).
            throw new IllegalArgumentException("NEO4J_PASSWORD must have at least 8 characters");
        }
        Files.createDirectories(data);

        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(data)
                .setConfig(GraphDatabaseSettings.data_directory, data)
                .setConfig(GraphDatabaseSettings.logs_directory, data.resolve("logs"))
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory, pageCache)
                .setConfig(GraphDatabaseSettings.memory_transaction_global_max_size, txMax)
                // A development server: keep one old transaction log file of 64 MiB, not days of 256 MiB files.
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "1 files")
                .setConfig(GraphDatabaseSettings.logical_log_rotation_threshold, 64L * 1024 * 1024)
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                .setConfig(GraphDatabaseSettings.load_csv_file_url_root, importDir)
                .setConfig(GraphDatabaseSettings.allow_file_urls, !loadCsv.equals("none"));
        if (!loadCsv.equals("any")) {
            // Blocks LOAD CSV (and any other Cypher URL access) to every IPv4 and IPv6 address.
            builder.setConfig(GraphDatabaseInternalSettings.cypher_ip_blocklist,
                    List.of(new IPAddressString("0.0.0.0/0"), new IPAddressString("::/0")));
        }
        if (!conf.isEmpty()) {
            builder.loadPropertiesFromFile(Path.of(conf));
        }

        long t0 = System.nanoTime();
        DatabaseManagementService dbms = builder.build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("neo4j-launcher: shutting down");
            System.out.flush();
            try {
                dbms.shutdown();
            } finally {
                stopped.countDown();
                System.out.println("neo4j-launcher: stopped");
                System.out.flush();
            }
        }, "neo4j-launcher-shutdown"));

        GraphDatabaseService system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        setPassword(system, password);
        String version = neo4jVersion(system);
        // Bolt is bound during build(); the default database must be online before clients use it.
        GraphDatabaseService neo4j = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        if (!neo4j.isAvailable(Duration.ofMinutes(2).toMillis())) {
            throw new IllegalStateException("database 'neo4j' did not come online within 2 minutes");
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        System.out.printf("READY neo4j %s bolt://%s:%d data=%s load-csv=%s (started in %d ms, pid %d)%n",
                version, host, port, data, loadCsv, ms, ProcessHandle.current().pid());
        System.out.flush();
        stopped.await();
    }

    /**
     * Makes NEO4J_PASSWORD the password of user neo4j. The embedded API runs with full privileges, so it
     * can; CHANGE NOT REQUIRED lets drivers run queries at once instead of being told to change it.
     */
    private static void setPassword(GraphDatabaseService system, String password) {
        try {
            system.executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
        } catch (QueryExecutionException e) {
            // Neo4j refuses to "change" a password to the one it already has: the usual restart case.
            if (!String.valueOf(e.getMessage()).contains("Old password and new password cannot be the same")) {
                throw e;
            }
            system.executeTransactionally("ALTER USER neo4j SET PASSWORD CHANGE NOT REQUIRED");
        }
    }

    private static String neo4jVersion(GraphDatabaseService system) {
        try (Transaction tx = system.beginTx();
                Result r = tx.execute("CALL dbms.components() YIELD name, versions, edition "
                        + "RETURN versions[0] + ' ' + edition AS v")) {
            return r.hasNext() ? String.valueOf(r.next().get("v")) : "unknown";
        }
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> out = new LinkedHashMap<>();
        List<String> known = List.of("host", "port", "data", "pagecache", "tx-max", "conf", "load-csv");
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("-h") || a.equals("--help")) {
                out.put("help", "");
                continue;
            }
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + a);
            }
            String key = a.substring(2);
            String value = null;
            int eq = key.indexOf('=');
            if (eq >= 0) {
                value = key.substring(eq + 1);
                key = key.substring(0, eq);
            }
            if (!known.contains(key)) {
                throw new IllegalArgumentException("unknown option --" + key);
            }
            if (value == null) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("option --" + key + " needs a value");
                }
                value = args[++i];
            }
            out.put(key, value);
        }
        return out;
    }

    private static String opt(Map<String, String> opts, String key, String env, String dflt) {
        String v = opts.get(key);
        if (v == null || v.isEmpty()) {
            v = System.getenv(env);
        }
        return v == null || v.isEmpty() ? dflt : v;
    }

    private static int parsePort(String s) {
        try {
            int p = Integer.parseInt(s.trim());
            if (p < 1 || p > 65535) {
                throw new NumberFormatException();
            }
            return p;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("port must be an integer in 1..65535, got '" + s + "'");
        }
    }

    static long parseBytes(String what, String s) {
        String t = s.trim().toLowerCase();
        long mult = 1;
        if (t.endsWith("k") || t.endsWith("m") || t.endsWith("g")) {
            char u = t.charAt(t.length() - 1);
            mult = u == 'k' ? 1L << 10 : u == 'm' ? 1L << 20 : 1L << 30;
            t = t.substring(0, t.length() - 1);
        }
        try {
            return Long.parseLong(t) * mult;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(what + " must be a size like 512m or 2g, got '" + s + "'");
        }
    }

    private static void usage(PrintStream out) {
        out.println("usage: java -jar neo4j-launcher.jar [--host 127.0.0.1] [--port 7687] [--data .neo4j/data]");
        out.println("                                    [--pagecache 512m] [--tx-max 2g] [--conf neo4j.conf]");
        out.println("                                    [--load-csv none|import|any]");
        out.println("env: NEO4J_HOST NEO4J_PORT NEO4J_DATA_DIR NEO4J_PAGECACHE NEO4J_TX_MAX NEO4J_CONF NEO4J_LOAD_CSV NEO4J_PASSWORD");
    }
}
