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

    /// Only the shapes the response phase looks for decide what a stream holds back: with the
    /// default `pci_mode` that is trailing digits and separators, so prose is never held.
    func pendingTail(_ original: String) -> Int {
        let entities = settings.scanResponses ? settings.entities : (settings.pciMode ? [.creditCard] : [])
        if settings.scanResponses, !settings.detectPatterns.isEmpty { return maxMatchLength }
        // Measured on the text the recognisers read ("4111<NBSP>1111" is a run of a card).
        return TextFolding.tail(original) { text in
            var tail = 0
            for e in entities {
                switch e {
                case .creditCard: tail = max(tail, StreamTail.card(text))
                case .usSSN: tail = max(tail, StreamTail.ssn(text))
                case .phone: tail = max(tail, StreamTail.phone(text))
                case .email: tail = max(tail, StreamTail.email(text))
                case .iban: tail = max(tail, StreamTail.iban(text))
                case .ipAddress: tail = max(tail, StreamTail.ipv4(text), StreamTail.ipv6(text))
                }
            }
            return min(tail, maxMatchLength)
        }
    }

    /// Every built-in recogniser needs a digit, an '@' (e-mail) or a ':' (IPv6); custom patterns may need anything.
    func couldMatch(_ original: String) -> Bool {
        if settings.scanResponses, !settings.detectPatterns.isEmpty { return true }
        let cardsOnly = !settings.scanResponses
        // Fullwidth or other-script digits, a fullwidth '@', count as what they read as.
        let text = original.utf8.count == original.utf16.count ? original : TextFolding(original).text
        return text.utf8.contains { (48...57).contains($0) || (!cardsOnly && ($0 == 64 || $0 == 58)) }
    }

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
