import Foundation

// Outside SwiftPM there is no resource bundle: KTPolicy compiled as a fuzz module object reads
// its model from the main bundle (absent: rules only), which is enough to drive the stream guard.
extension Bundle { static var module: Bundle { Bundle.main } }
