/**
 * Test helper: a throwaway CA and a server certificate for 127.0.0.1, made with `openssl` in a
 * given folder (for the TLS smoke test).
 *
 * @module
 */

/** Paths of the PEM files {@linkcode makeCerts} wrote. */
export interface TestCerts {
  /** The CA certificate (what a client trusts). */
  caFile: string;
  /** The server certificate, signed by the CA, for IP 127.0.0.1. */
  certFile: string;
  /** The server key. */
  keyFile: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdin: "null" }).output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Write `ca.pem`, `server.pem`, `server-key.pem` into `dir`. */
export async function makeCerts(dir: string): Promise<TestCerts> {
  const days = ["-days", "2"];
  await openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca-key.pem",
    "-out",
    "ca.pem",
    "-subj",
    "/CN=spool test CA",
    ...days,
  ]);
  await openssl(dir, [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server-key.pem",
    "-out",
    "server.csr",
    "-subj",
    "/CN=127.0.0.1",
  ]);
  // DNS:localhost too: under Deno, a TLS connect to an IP is checked against "localhost"
  await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca-key.pem",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-extfile",
    "ext.cnf",
    ...days,
  ]);
  return {
    caFile: `${dir}/ca.pem`,
    certFile: `${dir}/server.pem`,
    keyFile: `${dir}/server-key.pem`,
  };
}
