import FluxApp
import Foundation

exit(await FluxMain.run())
