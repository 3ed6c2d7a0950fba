/// `-l/--selector`: gateways by their labels, as kubectl spells it — comma-separated terms,
/// all of which must hold: `key=value` (or `==`), `key!=value`, `key` (has the label), `!key`.
struct LabelSelector: Equatable {
    enum Term: Equatable {
        case equals(String, String), notEquals(String, String), exists(String), absent(String)
    }

    var terms: [Term]

    struct Invalid: Error { var message: String }

    init(_ text: String) throws(Invalid) {
        var terms: [Term] = []
        for raw in text.split(separator: ",", omittingEmptySubsequences: false) {
            let t = raw.trimmingCharacters(in: .whitespaces)
            func key(_ k: Substring) throws(Invalid) -> String {
                let k = k.trimmingCharacters(in: .whitespaces)
                guard !k.isEmpty, k.count <= 128, k.allSatisfy({ $0.isLetter || $0.isNumber || "-_./".contains($0) }) else {
                    throw Invalid(message: "--selector: '\(t)' has no valid label key (letters, digits, - _ . /)")
                }
                return k
            }
            if let r = t.range(of: "!=") {
                terms.append(.notEquals(try key(t[..<r.lowerBound]), String(t[r.upperBound...]).trimmingCharacters(in: .whitespaces)))
            } else if let r = t.range(of: "==") ?? t.range(of: "=") {
                terms.append(.equals(try key(t[..<r.lowerBound]), String(t[r.upperBound...]).trimmingCharacters(in: .whitespaces)))
            } else if t.hasPrefix("!") {
                terms.append(.absent(try key(t.dropFirst())))
            } else if t.isEmpty {
                throw Invalid(message: "--selector: an empty term (write key=value[,key2=value2])")
            } else {
                terms.append(.exists(try key(t[...])))
            }
        }
        self.terms = terms
    }

    func matches(_ labels: [String: String]) -> Bool {
        terms.allSatisfy { term in
            switch term {
            case .equals(let k, let v): labels[k] == v
            case .notEquals(let k, let v): labels[k] != v
            case .exists(let k): labels[k] != nil
            case .absent(let k): labels[k] == nil
            }
        }
    }
}
