/// The version of this kt build, reported by `kt --version`, gateways and the control plane.
public enum KTVersion {
    public static let current = "0.1.0"
}
