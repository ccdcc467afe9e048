/** Sweep rows of the nats area (no server needed: every case fails before or at the connect). */

import { connectNats, NatsConnectError } from "../../mod.ts";
import { type Case, num, optionCases, type Row } from "./harness.ts";

const call = (o: unknown) => connectNats(o as never);

const cases: Case[] = [
  ...optionCases(call, {
    servers: "str",
    token: "str",
    user: "str",
    pass: "str",
    nkeySeed: "str",
    credsFile: "str",
    tls: "object",
    name: "str",
    timeoutMs: num(0, true),
  }),
  { name: "servers: []", run: () => call({ servers: [] }) },
  { name: "servers: [42]", run: () => call({ servers: [42] }) },
  { name: "user without pass", run: () => call({ user: "u" }) },
  { name: "token and user/pass", run: () => call({ token: "t", user: "u", pass: "p" }) },
  { name: "token and nkeySeed", run: () => call({ token: "t", nkeySeed: "SU" }) },
  { name: "credsFile: a missing file", run: (ctx) => call({ credsFile: ctx.missing }) },
  { name: "credsFile: a directory", run: (ctx) => call({ credsFile: ctx.dir }) },
  ...optionCases(
    (tls) => call({ tls }),
    { caFile: "str", certFile: "str", keyFile: "str" },
    {},
    "tls",
  ),
  { name: "tls.caFile: a missing file", run: (ctx) => call({ tls: { caFile: ctx.missing } }) },
  { name: "tls.certFile without keyFile", run: (ctx) => call({ tls: { certFile: ctx.file } }) },
  {
    name: "servers: a port nothing listens on",
    run: () => call({ servers: "nats://127.0.0.1:1", timeoutMs: 2000 }),
    expect: { spool: true, class: NatsConnectError },
  },
];

export const natsRows: Row[] = [{ export: "connectNats", area: "nats", cases }];
