import CYAML
import KTModel

/// A YAML syntax or structure problem, with the position libyaml (or we) found it at.
public struct YAMLSyntaxError: Error, Sendable, Equatable {
    public var message: String
    public var location: SourceLocation
}

/// Builds a `YAMLNode` tree from libyaml's event stream.
///
/// Hostile input is bounded: nesting depth, total node count after alias expansion (alias
/// bombs), and input size are all capped, and each cap ends in a positioned error.
public struct YAMLParser: Sendable {
    public var maxDepth: Int
    public var maxNodes: Int
    public var maxInputBytes: Int

    public init(maxDepth: Int = 64, maxNodes: Int = 200_000, maxInputBytes: Int = 8 << 20) {
        self.maxDepth = maxDepth
        self.maxNodes = maxNodes
        self.maxInputBytes = maxInputBytes
    }

    public func parse(_ text: String, file: String) throws(YAMLSyntaxError) -> YAMLNode {
        try parse(bytes: Array(text.utf8), file: file)
    }

    public func parse(bytes: [UInt8], file: String) throws(YAMLSyntaxError) -> YAMLNode {
        if bytes.count > maxInputBytes {
            throw YAMLSyntaxError(message: "file is \(bytes.count) bytes; the limit is \(maxInputBytes) bytes",
                                  location: SourceLocation(file: file, line: 1, column: 1))
        }
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else {
            throw YAMLSyntaxError(message: "could not initialise the YAML parser (out of memory)",
                                  location: SourceLocation(file: file, line: 1, column: 1))
        }
        defer { yaml_parser_delete(parser) }

        var builder = TreeBuilder(file: file, maxDepth: maxDepth, maxNodes: maxNodes)
        let result: Result<YAMLNode, YAMLSyntaxError> = bytes.withUnsafeBufferPointer { buf in
            yaml_parser_set_input_string(parser, buf.baseAddress ?? UnsafePointer(bitPattern: 1)!, buf.count)
            yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(parser, &event) == 1 else {
                    return .failure(Self.libyamlError(parser, file: file))
                }
                defer { yaml_event_delete(&event) }
                do throws(YAMLSyntaxError) {
                    if let done = try builder.handle(&event) { return .success(done) }
                } catch {
                    return .failure(error)
                }
            }
        }
        return try result.get()
    }

    private static func libyamlError(_ parser: UnsafeMutablePointer<yaml_parser_t>, file: String) -> YAMLSyntaxError {
        let p = parser.pointee
        var message = p.problem.map { String(cString: $0) } ?? "invalid YAML"
        if let ctx = p.context.map({ String(cString: $0) }) { message = "\(message) \(ctx)" }
        let mark = p.problem_mark
        // libyaml marks are 0-based.
        return YAMLSyntaxError(message: message,
                               location: SourceLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1))
    }
}

/// The event-to-tree state machine used by `YAMLParser`.
private struct TreeBuilder {
    enum Frame {
        case sequence(items: [YAMLNode], location: SourceLocation, anchor: String?)
        case mapping(pairs: [YAMLPair], pendingKey: (String, SourceLocation)?, location: SourceLocation, anchor: String?, merged: Set<String>)
    }

    let file: String
    let maxDepth: Int
    let maxNodes: Int
    var stack: [Frame] = []
    var anchors: [String: (node: YAMLNode, weight: Int)] = [:]
    var weights: [Int] = []  // node weight accumulated per open frame
    var totalNodes = 0
    var root: YAMLNode?
    var documents = 0

    init(file: String, maxDepth: Int, maxNodes: Int) {
        self.file = file
        self.maxDepth = maxDepth
        self.maxNodes = maxNodes
    }

    func location(_ mark: yaml_mark_t) -> SourceLocation {
        SourceLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        p.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    /// Returns the root once the stream ends.
    mutating func handle(_ event: inout yaml_event_t) throws(YAMLSyntaxError) -> YAMLNode? {
        let at = location(event.start_mark)
        switch event.type {
        case YAML_STREAM_START_EVENT, YAML_NO_EVENT:
            return nil
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw YAMLSyntaxError(message: "the file holds more than one YAML document; a config is exactly one", location: at)
            }
            return nil
        case YAML_DOCUMENT_END_EVENT:
            return nil
        case YAML_STREAM_END_EVENT:
            guard let root else {
                throw YAMLSyntaxError(message: "the file is empty; expected a mapping", location: at)
            }
            return root
        case YAML_ALIAS_EVENT:
            let name = string(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                throw YAMLSyntaxError(message: "alias *\(name) refers to an anchor that is not defined before it", location: at)
            }
            try add(target.node, weight: target.weight, at: at)
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let bytes = UnsafeBufferPointer(start: s.value, count: Int(s.length))
            let text = String(decoding: bytes, as: UTF8.self)
            let tag = string(s.tag)
            var style: YAMLNode.ScalarStyle = (s.style == YAML_PLAIN_SCALAR_STYLE) ? .plain : .quoted
            if let tag {
                switch tag {
                case "tag:yaml.org,2002:str": style = .quoted
                case "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
                     "tag:yaml.org,2002:null": style = .plain
                case "!": break
                default:
                    throw YAMLSyntaxError(message: "unsupported YAML tag '\(tag)'", location: at)
                }
            }
            let node = YAMLNode(.scalar(text, style), at: at)
            if let anchor = string(s.anchor) { anchors[anchor] = (node, 1) }
            try add(node, weight: 1, at: at)
        case YAML_SEQUENCE_START_EVENT:
            try push(.sequence(items: [], location: at, anchor: string(event.data.sequence_start.anchor)), at: at)
        case YAML_MAPPING_START_EVENT:
            try push(.mapping(pairs: [], pendingKey: nil, location: at, anchor: string(event.data.mapping_start.anchor), merged: []), at: at)
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let frame = stack.removeLast()
            let weight = weights.removeLast()
            let node: YAMLNode
            let anchor: String?
            switch frame {
            case .sequence(let items, let loc, let a):
                node = YAMLNode(.sequence(items), at: loc)
                anchor = a
            case .mapping(let pairs, _, let loc, let a, _):
                node = YAMLNode(.mapping(pairs), at: loc)
                anchor = a
            }
            if let anchor { anchors[anchor] = (node, weight) }
            try add(node, weight: weight, at: at, countSelf: false)
        default:
            return nil
        }
        return nil
    }

    mutating func push(_ frame: Frame, at: SourceLocation) throws(YAMLSyntaxError) {
        if stack.count >= maxDepth {
            throw YAMLSyntaxError(message: "nesting is deeper than \(maxDepth) levels", location: at)
        }
        try count(1, at: at)
        stack.append(frame)
        weights.append(1)
    }

    mutating func count(_ n: Int, at: SourceLocation) throws(YAMLSyntaxError) {
        totalNodes += n
        if totalNodes > maxNodes {
            throw YAMLSyntaxError(message: "the document expands to more than \(maxNodes) nodes (too large, or an alias bomb)", location: at)
        }
    }

    /// Attaches a finished node to the open collection (or makes it the root).
    mutating func add(_ node: YAMLNode, weight: Int, at: SourceLocation, countSelf: Bool = true) throws(YAMLSyntaxError) {
        if countSelf { try count(weight, at: at) }
        guard let top = stack.popLast() else {
            root = node
            return
        }
        weights[weights.count - 1] = weights[weights.count - 1] &+ weight
        switch top {
        case .sequence(var items, let loc, let anchor):
            items.append(node)
            stack.append(.sequence(items: items, location: loc, anchor: anchor))
        case .mapping(var pairs, let pendingKey, let loc, let anchor, var merged):
            if let (key, keyLoc) = pendingKey {
                if key == "<<" {
                    try merge(node, into: &pairs, merged: &merged, at: keyLoc)
                } else if let existing = pairs.firstIndex(where: { $0.key == key }) {
                    // An explicit key overrides one that came in through a merge key.
                    guard merged.remove(key) != nil else {
                        throw YAMLSyntaxError(message: "duplicate key '\(key)' in the same mapping", location: keyLoc)
                    }
                    pairs[existing] = YAMLPair(key: key, keyLocation: keyLoc, value: node)
                } else {
                    pairs.append(YAMLPair(key: key, keyLocation: keyLoc, value: node))
                }
                stack.append(.mapping(pairs: pairs, pendingKey: nil, location: loc, anchor: anchor, merged: merged))
            } else {
                guard case .scalar(let key, _) = node.kind else {
                    throw YAMLSyntaxError(message: "mapping keys must be scalars, not \(node.typeName)", location: node.location)
                }
                stack.append(.mapping(pairs: pairs, pendingKey: (key, node.location), location: loc, anchor: anchor, merged: merged))
            }
        }
    }

    /// YAML merge keys (`<<: *base`, `<<: [*a, *b]`): keys already present win.
    func merge(_ node: YAMLNode, into pairs: inout [YAMLPair], merged: inout Set<String>, at: SourceLocation) throws(YAMLSyntaxError) {
        let sources: [YAMLNode]
        switch node.kind {
        case .mapping: sources = [node]
        case .sequence(let items): sources = items
        case .scalar: throw YAMLSyntaxError(message: "a merge key '<<' needs a mapping or a list of mappings", location: at)
        }
        for source in sources {
            guard let sourcePairs = source.mappingPairs else {
                throw YAMLSyntaxError(message: "a merge key '<<' needs a mapping or a list of mappings", location: source.location)
            }
            for pair in sourcePairs where !pairs.contains(where: { $0.key == pair.key }) {
                pairs.append(pair)
                merged.insert(pair.key)
            }
        }
    }
}
