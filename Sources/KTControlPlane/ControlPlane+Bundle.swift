import Foundation
import KTModel
import KTConfig

/// The support bundle of `kt doctor --bundle` (PRODUCT.md §7): a tar.gz of gateway records,
/// redacted configs, recent events, health samples, rollout history and the doctor's report,
/// with a manifest of SHA-256 per file. Every file goes through `SecretScrubber`; configs are
/// bundled as their parsed tree (never raw text), so a `secret_key_ref` names a variable or a
/// file but a key value cannot ride along.
extension ControlPlane {
    struct SupportBundle: Sendable {
        var name: String
        var bytes: [UInt8]
        var files: Int
    }

    /// Events per gateway in the bundle.
    static let bundleEventsPerGateway = 200

    func supportBundle(_ r: DoctorRequest, report: JSONValue, effectiveConfigs: [String: JSONValue]) async throws -> SupportBundle {
        let t = now()
        let stamp = Self.compactStamp(t)
        let root = "fleet-diagnostics-\(stamp)"
        let scrubber = SecretScrubber(knownSecrets: [])
        var files: [(path: String, bytes: [UInt8])] = []
        func add(_ path: String, _ json: JSONValue) {
            files.append((path, Array((scrubber.scrub(json).serialized(pretty: true) + "\n").utf8)))
        }

        let all = await registry.all()
        let ids = r.ids ?? all.map(\.id)
        let chosen = all.filter { ids.contains($0.id) }
        var statusCounts: [String: Int] = [:]
        for g in all { statusCounts[await g.status(at: t).0.rawValue, default: 0] += 1 }
        add("control-plane.json", .object([
            ("version", .string(KTVersion.current)), ("generated_at", .string(Timestamps.iso(t))),
            ("listen", .string("\(options.host):\(options.port)")), ("data_dir", .string(options.dataDir)),
            ("health_window_seconds", .double(options.healthWindowSeconds)), ("event_retention", .int(options.eventRetention)), ("event_retention_bytes", .int(options.eventRetentionBytes)),
            ("gateways_registered", .int(all.count)),
            ("gateways_by_status", .object(statusCounts.keys.sorted().map { ($0, .int(statusCounts[$0]!)) })),
            ("config_sources", .array(try await store.configSources().map { .string($0) })),
        ]))
        add("doctor.json", report)

        var shas: [String: String] = [:] // sha → why it is bundled
        var missing: [JSONValue] = []      // files a reader would expect, and why they are not there
        for g in chosen {
            let dir = "gateways/\(Self.safeName(g.id))"
            add("\(dir)/record.json", await g.summary(at: t, healthWindow: options.healthWindowSeconds))
            add("\(dir)/health-samples.json", .object([("window_seconds", 3600), ("samples", await g.sampleHistory(3600, at: t))]))
            let events = try await store.events(.init(gateways: [g.id], limit: Self.bundleEventsPerGateway))
            // Prompt and response text (audit-logger include_content) is user data, not diagnostics.
            let decisions = events.map { e in e.json["content"] == nil ? e.json : e.json.setting("content", "[omitted from the bundle]") }
            add("\(dir)/events.json", .object([("limit", .int(Self.bundleEventsPerGateway)), ("events", .array(decisions))]))
            if let c = effectiveConfigs[g.id] {
                add("\(dir)/effective-config.json", c)
            } else {
                let why = await g.status(at: t).0 == .offline ? "the gateway is offline"
                    : "the gateway did not send its effective config within \(ManagedGateway.ageText(r.timeoutSeconds))"
                missing.append(.object([("path", .string("\(dir)/effective-config.json")), ("reason", .string(why))]))
            }
            let state = await g.configState
            for ref in [state.desired, state.applied, state.previous].compactMap({ $0 }) where shas[ref.sha] == nil { shas[ref.sha] = ref.version }
        }
        for (sha, _) in shas.sorted(by: { $0.key < $1.key }) {
            guard let v = try await store.config(sha: sha) else { continue }
            let tree: JSONValue
            if let loaded = try? ConfigLoader().load(text: v.content, name: v.name) {
                tree = loaded.tree.jsonValue
            } else {
                tree = .object([("unparsed", "this stored config does not parse; its text is left out of the bundle")])
            }
            add("configs/\(Self.safeName(v.source))/\(Self.safeName(v.name)).json",
                v.summaryJSON.setting("config", tree))
        }
        let history = await rollouts.list().filter { ro in r.ids == nil || ro.machine.batches.joined().contains(where: ids.contains) }
        add("rollouts.json", .object([("rollouts", .array(history.map { $0.json.setting("log", .array($0.log)) }))]))

        let manifestFiles: [JSONValue] = files.map { f in
            .object([("path", .string(f.path)), ("bytes", .int(f.bytes.count)), ("sha256", .string(SHA256.hex(f.bytes)))])
        }
        let manifest: JSONValue = .object([
            ("format", "kt-support-bundle/1"), ("created_at", .string(Timestamps.iso(t))),
            ("control_plane_version", .string(KTVersion.current)),
            ("scope", .object([("gateways", .array(chosen.map { .string($0.id) })), ("checks", .array(r.checks.map { .string($0) }))])),
            ("redaction", "secret values (provider keys, tokens, anything resolved from secret_key_ref) are removed by each gateway and again here; configs are parsed trees"),
            ("files", .array(manifestFiles)),
            ("missing", .array(missing)),
        ])
        files.insert(("manifest.json", Array((manifest.serialized(pretty: true) + "\n").utf8)), at: 0)

        var tar = TarArchive(mtime: Int(t))
        for f in files { try tar.add(path: "\(root)/\(f.path)", contents: f.bytes) }
        return SupportBundle(name: root, bytes: try Gzip.compress(tar.finished()), files: files.count)
    }

    /// A path component from an id: ids allow '.', so '.' and '..' are prefixed.
    static func safeName(_ s: String) -> String {
        let cleaned = String(s.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
        return cleaned.isEmpty || cleaned.allSatisfy({ $0 == "." }) ? "_" + cleaned : cleaned
    }

    static func compactStamp(_ t: Double) -> String {
        var tm = tm()
        var secs = time_t(t)
        gmtime_r(&secs, &tm)
        return String(format: "%04d%02d%02d-%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
    }
}
