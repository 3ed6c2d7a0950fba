import Foundation
import KTModel

/// pii-detector: validated recognisers plus custom patterns; redact (default) or block.
/// In `pci_mode` (default) card numbers are treated as the most sensitive entity: they are
/// also scanned in responses, whatever `scan_responses` says.
struct PIIPolicy: CompiledPolicy {
    let settings: PIIDetectorSettings
    let recognizers: PIIRecognizers
    let cardsOnly: PIIRecognizers?

    init(settings: PIIDetectorSettings) throws(PolicyError) {
        self.settings = settings
        recognizers = try PIIRecognizers(entities: settings.entities, customPatterns: settings.detectPatterns)
        cardsOnly = settings.pciMode && !settings.scanResponses ? try PIIRecognizers(entities: [.creditCard]) : nil
    }

    var kind: PolicyKind { .piiDetector }
    // Longest entity: an IBAN with spaces (34 chars + 8 spaces) or a long e-mail address.
    var maxMatchLength: Int { 64 }

    func runs(in phase: PolicyKind.Phase) -> Bool {
        phase == .request || settings.scanResponses || settings.pciMode
    }

    func evaluate(_ segments: inout [TextSegment], context: EvaluationContext) throws -> PolicyVerdict {
        let active = context.phase == .response && !settings.scanResponses ? (cardsOnly ?? recognizers) : recognizers
        var counts: [String: Int] = [:]
        for i in segments.indices where !segments[i].isOperatorAuthored {
            let matches = try active.find(in: segments[i].text, deadline: context.deadline)
            guard !matches.isEmpty else { continue }
            for m in matches { counts[m.entity, default: 0] += 1 }
            if settings.action == .redact {
                segments[i].text = Redaction.apply(segments[i].text, matches.map {
                    ($0.range, Redaction.marker(entity: $0.entity, value: $0.value, format: settings.markerFormat))
                })
            }
        }
        guard !counts.isEmpty else { return .allow }
        let details: [(String, JSONValue)] = [("entities", .object(counts.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) }))]
        let summary = counts.keys.sorted().joined(separator: ", ")
        if settings.action == .block {
            return PolicyVerdict(.block, reasonCode: "pii.detected", message: "personal data detected (\(summary))", details: details)
        }
        return PolicyVerdict(.redact, reasonCode: "pii.detected", message: "personal data redacted (\(summary))", details: details)
    }
}
