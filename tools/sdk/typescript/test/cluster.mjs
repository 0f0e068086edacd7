// A real cluster for the tests: build/bin/launch --bots 0 (redis-server on a free loopback
// port, the name server, a gateway, two local servers), stopped with SIGTERM at the end.
// BEHAVIOR_BIN_DIR names the binaries (CTest passes it; default: the repository's build/bin).
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
export const binDir = process.env.BEHAVIOR_BIN_DIR || path.resolve(here, "../../../../build/bin");

export function haveBinaries() {
  return existsSync(path.join(binDir, "launch"));
}

/** Starts a cluster; resolves with {nameServer, gateway: {tcp, ws, udp}, redis, logDir, env, stop()}. */
export function startCluster(extraArgs = [], extraEnv = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      path.join(binDir, "launch"),
      ["--bots", "0", "--name-server-port", "0", "--gateway-tcp-port", "0", "--gateway-ws-port", "0",
       "--gateway-udp-port", "0", ...extraArgs],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...extraEnv } },
    );
    let out = "";
    let done = false;
    const timer = setTimeout(() => fail(new Error("launch did not come up in 60 s:\n" + out)), 60000);
    const fail = (e) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(e);
    };
    const onData = (d) => {
      out += d.toString();
      if (done || !out.includes("launch: running")) return;
      done = true;
      clearTimeout(timer);
      const ns = /name_server\s+\d+\s+(http:\/\/[0-9.]+:\d+)/.exec(out);
      const gw = /gateway-1\s+\d+\s+tcp ([0-9.]+:\d+)\s+ws ws:\/\/([0-9.]+:\d+)\s+udp ([0-9.]+:\d+)/.exec(out);
      const redis = /redis\s+\d+\s+redis:\/\/([0-9.]+:\d+)/.exec(out);
      const logs = /logs:\s+(\S+)/.exec(out);
      if (!ns || !gw) {
        child.kill("SIGKILL");
        reject(new Error("cannot read launch's table:\n" + out));
        return;
      }
      const logDir = logs ? logs[1] : "";
      const env = {};
      try {
        for (const line of readFileSync(path.join(logDir, "cluster.env"), "utf8").split("\n")) {
          const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
          if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, "$1");
        }
      } catch { /* not needed by every test */ }
      const pids = {};
      for (const m of out.matchAll(/^(\S+)\s+(\d+)\s+/gm)) pids[m[1]] = Number(m[2]);
      const gateways = [...out.matchAll(/^(gateway-\d+)\s+\d+\s+tcp ([0-9.]+:\d+)/gm)].map((m) => ({ name: m[1], tcp: m[2] }));
      resolve({
        pids,
        gateways,
        nameServer: ns[1],
        gateway: { tcp: gw[1], ws: gw[2], udp: gw[3] },
        redis: redis ? redis[1] : "",
        logDir,
        env,
        output: () => out,
        stop: () => new Promise((res) => {
          if (child.exitCode !== null) return res(child.exitCode);
          const kill = setTimeout(() => child.kill("SIGKILL"), 15000);
          child.once("exit", (code) => { clearTimeout(kill); res(code); });
          child.kill("SIGTERM");
        }),
      });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => fail(new Error(`launch exited (${code}):\n` + out)));
  });
}

/** A free loopback TCP port (closed again: a race is possible but harmless in tests). */
export async function freePort() {
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * One more name server in the cluster, in accounts mode (`--auth accounts`): the launcher's
 * runs in dev mode. Resolves with {url, stop()}.
 */
export async function startAccountsNameServer(cluster) {
  const port = await freePort();
  const child = spawn(
    path.join(binDir, "name_server"),
    ["--node-id", "201", "--http-port", String(port), "--http-host", "127.0.0.1", "--auth", "accounts",
     "--login-rate", "0", "--metrics-port", "-1"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...cluster.env } },
  );
  let out = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("name_server --auth accounts: no ready line:\n" + out)), 20000);
    const onData = (d) => {
      out += d.toString();
      if (out.includes("name_server ready")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`name_server exited (${code}):\n` + out));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise((res) => {
      if (child.exitCode !== null) return res(child.exitCode);
      const kill = setTimeout(() => child.kill("SIGKILL"), 10000);
      child.once("exit", (code) => { clearTimeout(kill); res(code); });
      child.kill("SIGTERM");
    }),
  };
}
