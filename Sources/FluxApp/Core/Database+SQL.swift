import FluentKit
import SQLKit

extension Database {
    /// This database's SQL interface. Both of Flux's drivers (SQLite and PostgreSQL) are SQL databases, so
    /// this cannot fail in Flux; it fails loudly if a non-SQL driver is ever configured.
    var sql: any SQLDatabase { self as! any SQLDatabase }
}
