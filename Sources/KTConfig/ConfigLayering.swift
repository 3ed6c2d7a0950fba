import KTModel

/// Layering of several config files: later files override earlier ones; mappings merge key by
/// key (recursively), lists and scalars replace.
public enum ConfigLayering {
    public static func merge(_ base: YAMLNode, _ overlay: YAMLNode) -> YAMLNode {
        guard case .mapping(var pairs) = base.kind, case .mapping(let overPairs) = overlay.kind else {
            return overlay
        }
        for over in overPairs {
            if let i = pairs.firstIndex(where: { $0.key == over.key }) {
                pairs[i] = YAMLPair(key: over.key, keyLocation: over.keyLocation, value: merge(pairs[i].value, over.value))
            } else {
                pairs.append(over)
            }
        }
        return YAMLNode(.mapping(pairs), at: base.location)
    }

    public static func merge(_ layers: [YAMLNode]) -> YAMLNode? {
        guard var result = layers.first else { return nil }
        for layer in layers.dropFirst() { result = merge(result, layer) }
        return result
    }
}
