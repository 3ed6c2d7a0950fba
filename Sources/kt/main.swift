import Foundation
import KTCLI

exit(await KT.main(Array(CommandLine.arguments.dropFirst()), context: .process()))
