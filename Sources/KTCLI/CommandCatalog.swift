import KTModel

/// The whole `kt` command surface of PRODUCT.md §7. Commands not built yet are listed with the
/// issue that builds them, so `--help` always shows the full surface.
public enum CommandCatalog {
    static let json = OptionSpec("json", "machine-readable output (stable, documented)")
    static let groupsFile = OptionSpec("groups-file", value: "FILE", "gateway groups file (default $KEEPTRUSTS_HOME/gateway-groups.yaml)")

    public static func root(handlers: Handlers = .builtIn) -> Command {
        .group("kt", "AI governance gateway and the tooling that runs a fleet of them", [
            .group("gateway", "run a gateway; list, inspect and watch the fleet's gateways", [
                .leaf("run", "run the OpenAI-compatible policy gateway", options: [
                    OptionSpec("listen", value: "HOST:PORT", "address to listen on (default 0.0.0.0:41002)"),
                    OptionSpec("policy-config", value: "FILE", repeatable: true, "policy config; later files override earlier ones"),
                    OptionSpec("fail-mode", value: "block|allow", "what to do when a policy itself errors (default block)"),
                    OptionSpec("max-concurrency", value: "N", "requests handled at once before 503 (default 1024)"),
                    OptionSpec("max-connections", value: "N", "open client connections (default 4 × max-concurrency, fitted under ulimit -n)"),
                    OptionSpec("max-connections-per-client", value: "N", "open connections from one client address (default: no cap)"),
                    OptionSpec("policy-budget", value: "DURATION", "time one phase of the policy chain may take; then fail-mode decides (default 2s)"),
                    OptionSpec("upstream", value: "URL", "debug: send every request to this OpenAI-compatible base URL (KEEPTRUSTS_UPSTREAM)"),
                    OptionSpec("upstream-api-key", value: "KEY", "debug: API key for --upstream (KEEPTRUSTS_UPSTREAM_API_KEY)"),
                    OptionSpec("upstream-api-key-header", value: "NAME", "debug: header for the key (KEEPTRUSTS_UPSTREAM_API_KEY_HEADER)"),
                    OptionSpec("upstream-api-key-prefix", value: "TEXT", "debug: prefix for the key (KEEPTRUSTS_UPSTREAM_API_KEY_PREFIX)"),
                    OptionSpec("state-dir", value: "DIR", "identity, last-known-good config, audit log"),
                    OptionSpec("gateway-id", value: "ID", "managed mode: this gateway's id"),
                    OptionSpec("name", value: "NAME", "managed mode: display name"),
                    OptionSpec("region", value: "REGION", "managed mode: region"),
                    OptionSpec("label", value: "K=V", repeatable: true, "managed mode: label"),
                    OptionSpec("heartbeat-interval", value: "DURATION", "managed mode: heartbeat period (default 10s)"),
                    OptionSpec("admin-token", value: "TOKEN", "token every /keeptrusts/* call must carry, loopback included; without it they answer loopback only (KEEPTRUSTS_ADMIN_TOKEN)"),
                    OptionSpec("log-level", value: "LEVEL", "debug|info|warn|error (default info)"),
                    OptionSpec("header-timeout", value: "DURATION", "close clients whose request head takes longer (default 10s)"),
                    OptionSpec("drain-timeout", value: "DURATION", "on SIGTERM, wait this long for in-flight requests (default 30s)"),
                ] + TLSFlags.serverOptions, run: handlers.gatewayRun),
                .leaf("list", "list registered gateways", options: [
                    OptionSpec("status", value: "online|offline|degraded", "only gateways in this status"),
                    OptionSpec("group", value: "G", "only gateways of this group"), groupsFile, FleetCLI.selectorOption, json,
                ], run: GatewayFleetCommands.list),
                .leaf("show", "everything the control plane knows about one gateway", options: [json],
                      positionals: [PositionalSpec("ID", "gateway id")], run: GatewayFleetCommands.show),
                .leaf("health", "per-gateway health and fleet totals", options: [
                    OptionSpec("group", value: "G", "only gateways of this group"), groupsFile, FleetCLI.selectorOption,
                    OptionSpec("watch", "redraw continuously"),
                    OptionSpec("interval", value: "DURATION", "refresh period with --watch (default 5s)"), json,
                ], run: GatewayFleetCommands.health),
            ]),
            .group("control-plane", "run the control plane; manage its tokens", [
                .leaf("run", "run the control plane", options: [
                    OptionSpec("listen", value: "HOST:PORT", "address to listen on (default 127.0.0.1:41000)"),
                    OptionSpec("data", value: "DIR", "state directory (SQLite at DIR/kt.db; default $KEEPTRUSTS_HOME/control-plane)"),
                    OptionSpec("log-level", value: "LEVEL", "debug|info|warn|error (default info)"),
                    OptionSpec("metrics-open", "serve /metrics without a token (default: a fleet:read token, e.g. a viewer token)"),
                    OptionSpec("event-retention", value: "N", "decision events kept, oldest dropped first (default 1000000)"),
                    OptionSpec("event-retention-mb", value: "MB", "megabytes of decision events kept, oldest dropped first (default 2048)"),
                    OptionSpec("tls-client-ca", value: "FILE", "mutual TLS: require client certificates signed by this CA (KEEPTRUSTS_TLS_CLIENT_CA)"),
                    OptionSpec("tls-bind-identity", "with --tls-client-ca: a gateway token is accepted only with a certificate whose SAN or CN is its gateway id"),
                ] + TLSFlags.serverOptions, run: ControlPlaneCommands.run),
                .group("token", "API tokens", [
                    .leaf("create", "issue a token (printed once)", options: [
                        OptionSpec("role", value: "ROLE", "viewer|operator|admin|gateway"),
                        OptionSpec("gateway-id", value: "ID", "the gateway a gateway token is bound to"),
                        OptionSpec("name", value: "NAME", "a label for the token"), json,
                    ], run: ControlPlaneCommands.tokenCreate),
                    .leaf("list", "list tokens (never their values)", options: [json], run: ControlPlaneCommands.tokenList),
                    .leaf("revoke", "revoke a token", options: [json], positionals: [PositionalSpec("ID", "token id")],
                          run: ControlPlaneCommands.tokenRevoke),
                ]),
            ]),
            .group("policy", "work on policy config files locally", [
                .leaf("lint", "validate a policy config (exit 0 valid, 2 invalid, 1 could not run)", options: [
                    OptionSpec("file", value: "FILE", repeatable: true, "policy config to check (repeat to lint layered files)"),
                    json,
                ], run: handlers.policyLint),
                .leaf("test", "run golden test cases against the chain in process", options: [
                    OptionSpec("config", value: "FILE", "policy config (default policy-config.yaml)"),
                    OptionSpec("dir", value: "DIR", "test case directory (default tests/)"), json,
                ], run: { a, c in await PolicyTestCommand.run(a, c) }),
            ]),
            .group("config", "push policy configs to gateways", [
                .leaf("push", "preview or roll out a config to gateways", options: [
                    OptionSpec("file", value: "FILE", "the config to push"),
                    OptionSpec("gateway", value: "ID|GLOB", repeatable: true, "target gateway(s)"),
                    OptionSpec("group", value: "G", "target group"), groupsFile, FleetCLI.selectorOption,
                    OptionSpec("dry-run", "preview only (the default without --confirm)"),
                    OptionSpec("confirm", "execute the rollout"),
                    OptionSpec("plan", value: "ID", "with --confirm: refuse if the preview is stale"),
                    OptionSpec("strategy", value: "all-at-once|rolling|canary", "rollout strategy"),
                    OptionSpec("batch-size", value: "N", "gateways per batch"),
                    OptionSpec("pause-between", value: "DURATION", "pause between batches (default 60s)"),
                    OptionSpec("health-window", value: "DURATION", "health judged over this window (default 30s)"),
                    OptionSpec("min-requests", value: "N", "fewer samples is inconclusive (default 20)"),
                    OptionSpec("success-threshold", value: "EXPR", "e.g. \"block_rate<5%,p99<500ms\""),
                    OptionSpec("rollback-on-error", "roll updated gateways back on failure"),
                    OptionSpec("canary-duration", value: "DURATION", "canary observation time (default 10m)"),
                    OptionSpec("source", value: "NAME", "config source name"),
                    OptionSpec("adopt", "move gateways of another config source onto this one"),
                    OptionSpec("output", value: "text|json|markdown", "preview format"),
                    OptionSpec("ack-timeout", value: "DURATION", "how long each gateway has to ACK (default 30s)"),
                    OptionSpec("control", value: "rollout|group|baseline", "what updated gateways are compared with (default rollout: targets not updated yet)"),
                    OptionSpec("control-group", value: "G", "with --control group: the group whose other gateways are the control"),
                ] + ConfigPushCommand.judgeOptions + [
                    OptionSpec("detach", "return once the rollout has started"), json,
                ], run: ConfigPushCommand.run),
            ]),
            .group("rollout", "inspect and drive rollouts", [
                .leaf("list", "list rollouts", options: [json], run: RolloutCommands.list),
                .leaf("status", "show a rollout", options: [json, OptionSpec("follow", "stream its progress until it ends")],
                      positionals: [PositionalSpec("ID", "rollout id")], run: RolloutCommands.status),
                .leaf("abort", "abort a rollout", options: [json], positionals: [PositionalSpec("ID", "rollout id")], run: RolloutCommands.operate("abort")),
                .leaf("resume", "resume a paused or failed rollout", options: [json, OptionSpec("detach", "do not follow its progress")],
                      positionals: [PositionalSpec("ID", "rollout id")], run: RolloutCommands.operate("resume")),
                .leaf("rollback", "return a rollout's gateways to their previous config", options: [json, OptionSpec("detach", "do not follow its progress")],
                      positionals: [PositionalSpec("ID", "rollout id")], run: RolloutCommands.operate("rollback")),
                .leaf("analyze", "judge a rollout's stored samples again (its settings, or the ones given)",
                      options: [json] + ConfigPushCommand.judgeOptions.filter { $0.name != "min-requests" },
                      positionals: [PositionalSpec("ID", "rollout id")], run: RolloutCommands.analyze),
            ]),
            .group("events", "decision events", [
                .leaf("tail", "print recent decisions, then follow", options: [
                    OptionSpec("gateway", value: "ID", "one gateway"), OptionSpec("group", value: "G", "a group"), groupsFile, FleetCLI.selectorOption,
                    OptionSpec("all-gateways", "every gateway"),
                    OptionSpec("since", value: "DURATION", "backlog age (e.g. 1h)"),
                    OptionSpec("verdict", value: "allow|redact|block", "only this verdict"),
                    OptionSpec("limit", value: "N", "backlog size (default 50)"), json,
                    OptionSpec("no-follow", "print the backlog and exit"),
                ], run: EventsTailCommand.run),
            ]),
            .leaf("doctor", "check the fleet (with KEEPTRUSTS_API_URL) or this machine; write a support bundle", options: [
                OptionSpec("group", value: "G", "a group"), OptionSpec("gateway", value: "ID", "one gateway"), groupsFile, FleetCLI.selectorOption,
                OptionSpec("checks", value: "LIST", "fleet: heartbeat,config,version,clock,audit,upstream; local: config,state,gateway,upstream"),
                OptionSpec("timeout", value: "DURATION", "how long gateways have to answer (default 10s)"), json,
                OptionSpec("bundle", "write a support bundle (tar.gz; secrets removed)"),
                OptionSpec("out-file", value: "FILE", "bundle path (default fleet-diagnostics.tar.gz)"),
                OptionSpec("output", value: "FILE", "old spelling of --out-file (--output names a format elsewhere)"),
                OptionSpec("local", "check this machine even when KEEPTRUSTS_API_URL is set"),
                OptionSpec("policy-config", value: "FILE", repeatable: true, "local: the gateway's config (default policy-config.yaml)"),
                OptionSpec("state-dir", value: "DIR", "local: the gateway's state dir"),
                OptionSpec("url", value: "URL", "local: the gateway's address (default http://127.0.0.1:41002)"),
            ], run: DoctorCommand.run),
            .leaf("bench", "load-test an OpenAI-compatible endpoint", options: [
                OptionSpec("target", value: "URL", "base URL"), OptionSpec("requests", value: "N", "number of requests"),
                OptionSpec("duration", value: "DURATION", "run for this long"), OptionSpec("concurrency", value: "C", "parallel requests"),
                OptionSpec("model", value: "M", "model name"), OptionSpec("prompt-file", value: "FILE", "prompt text"),
                OptionSpec("stream", "use stream: true"), OptionSpec("out-file", value: "FILE", "also write the results JSON to FILE"),
                OptionSpec("output", value: "FILE", "old spelling of --out-file"), json,
            ], run: handlers.bench),
            .group("audit", "audit log tools", [
                .leaf("verify", "verify an audit log's hash chain", options: [json],
                      positionals: [PositionalSpec("STATE_DIR", "the gateway's state dir")], run: { a, c in await AuditVerifyCommand.run(a, c) }),
            ]),
            .leaf("init", "write a starter config and tests", options: [
                OptionSpec("template", value: "NAME", "e.g. prompt-injection-detection"),
                OptionSpec("dir", value: "DIR", "where to write (default .)"), OptionSpec("force", "overwrite existing files"), json,
            ], run: { a, c in await InitCommand.run(a, c) }),
            .group("profile", "named control-plane connections for the CLI ($KEEPTRUSTS_HOME/profiles.json; --profile NAME or KEEPTRUSTS_PROFILE picks one)", [
                .leaf("add", "add or replace a profile (the first one added becomes current)", options: [
                    OptionSpec("url", value: "URL", "the control plane's address"),
                    OptionSpec("token-file", value: "FILE", "file holding the API token (the profile keeps the path, not the token)"),
                    OptionSpec("ca-file", value: "FILE", "private CA for the control plane's certificate"),
                    OptionSpec("use", "make it the current profile"), json,
                ], positionals: [PositionalSpec("NAME", "profile name")], run: { a, c in await ProfileCommands.add(a, c) }),
                .leaf("use", "make a profile the current one", options: [json], positionals: [PositionalSpec("NAME", "profile name")],
                      run: { a, c in await ProfileCommands.use(a, c) }),
                .leaf("list", "list profiles (* marks the current one)", options: [json], run: { a, c in await ProfileCommands.list(a, c) }),
                .leaf("remove", "remove a profile", options: [json], positionals: [PositionalSpec("NAME", "profile name")],
                      run: { a, c in await ProfileCommands.remove(a, c) }),
            ]),
            .leaf("version", "the CLI's version and, when a control plane is configured, the control plane's", options: [json],
                  run: { a, c in await VersionCommand.run(a, c) }),
            .leaf("completion", "print a shell completion script (bash: source <(kt completion bash); fish: kt completion fish | source)",
                  positionals: [PositionalSpec("SHELL", "bash, zsh or fish")], run: { a, c in await CompletionCommand.run(a, c) }),
            .group("dev", "developer tools", [
                .leaf("simulate-fleet", "simulated gateways speaking the real protocol (KEEPTRUSTS_API_URL, an admin token)", options: [
                    OptionSpec("gateways", value: "N", "how many (default 10)"),
                    OptionSpec("prefix", value: "TEXT", "gateway id prefix (default sim-)"),
                    OptionSpec("region", value: "REGION", "region reported (default sim)"),
                    OptionSpec("heartbeat-interval", value: "DURATION", "heartbeat period (default 5s)"),
                    OptionSpec("rps", value: "N", "synthetic requests per second per gateway (default 2)"),
                    OptionSpec("block-rate", value: "RATE", "share of requests blocked, e.g. 2% (default 2%)"),
                    OptionSpec("error-rate", value: "RATE", "share of requests failing upstream (default 0.5%)"),
                    OptionSpec("slow", value: "N", "this many answer slowly and ACK after 2s"),
                    OptionSpec("failing", value: "N", "this many have a 30% error rate"),
                    OptionSpec("offline", value: "N", "this many register and go silent"),
                    OptionSpec("rejecting", value: "N", "this many NACK every config"),
                    OptionSpec("events-per-heartbeat", value: "N", "decision events uploaded per heartbeat"),
                    OptionSpec("duration", value: "DURATION", "stop after this long (default: until Ctrl-C)"),
                    OptionSpec("warmup", value: "DURATION", "discard heartbeat latencies before this"), json,
                ], run: SimulateFleetCommand.run),
                .leaf("mock-upstream", "an OpenAI-compatible mock provider on a real socket (tests, benchmarks)", options: [
                    OptionSpec("listen", value: "HOST:PORT", "address (default 127.0.0.1:41099; port 0 picks one and prints it)"),
                    OptionSpec("latency-ms", value: "MS", "delay before answering"),
                    OptionSpec("status", value: "CODE", "answer every request with this status"),
                    OptionSpec("fail-after-chunks", value: "N", "streams: drop the connection after N events"),
                    OptionSpec("chunk-delay-ms", value: "MS", "streams: delay between events"),
                    OptionSpec("reply", value: "TEXT", "fixed reply (default: echo)"),
                    OptionSpec("hang", "never answer"), OptionSpec("reset", "close connections without answering"),
                ], run: handlers.mockUpstream),
                .leaf("eval-pii", "span precision/recall of the PII recognisers on labelled JSONL", options: [
                    OptionSpec("data", value: "FILE", "labelled data (default ../shared/data/pii/dev.jsonl)"),
                    OptionSpec("errors", "print every false positive and false negative"),
                    OptionSpec("generated", "evaluate on rows generated from the formats (every IBAN country, 22 countries' phones, benign numbers) instead"),
                    OptionSpec("seed", value: "N", "with --generated: the generator's seed (default 1)"), json,
                ], run: { a, c in await EvalPIICommand.run(a, c) }),
                .leaf("eval-injection", "the prompt-injection detector on kt's fixtures: hard negatives, attacks, evasions", options: [
                    OptionSpec("fixtures", value: "DIR", "fixture directory (default fixtures/prompt-injection)"),
                    OptionSpec("threshold", value: "P", "score that blocks (default 0.8, the shipped threshold)"),
                    OptionSpec("errors", "print every miss and false positive with its score"), json,
                ], run: { a, c in await EvalInjectionCommand.run(a, c) }),
                .leaf("bench-detector", "prompt-injection scoring time for 1, 4 and 32 KB prompts", options: [json],
                      run: { a, c in await BenchDetectorCommand.run(a, c) }),
                .leaf("judge-calibration", "the rollout judge's false-rollback and detection rates, by seeded simulation", options: [
                    OptionSpec("rollouts", value: "N", "simulated rollouts per cell (default 2000)"),
                    OptionSpec("seed", value: "N", "random seed (default 1)"), json,
                ], run: { a, c in await JudgeCalibrationCommand.run(a, c) }),
            ]),
        ])
    }

    /// The runnable commands, injected so the catalog stays declarative.
    public struct Handlers: Sendable {
        public var policyLint: Command.Run?
        public var gatewayRun: Command.Run?
        public var mockUpstream: Command.Run?
        public var bench: Command.Run?

        public static let builtIn = Handlers(policyLint: PolicyLintCommand.run, gatewayRun: GatewayRunCommand.run,
                                             mockUpstream: MockUpstreamCommand.run, bench: BenchCommand.run)
    }
}
