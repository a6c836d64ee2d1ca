#pragma once
// Record types and migrations: the C++ counterpart of @tldraw/store's
// StoreSchema. A schema knows each record type's scope and validator, and the
// migration sequences (`sequenceId` -> ordered versions with up/down steps).
// Serialized form: { "schemaVersion": 2, "sequences": { id: version } }.

#include "proto/json.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tlsync::core {

class storage_txn;

enum class record_scope { document, session, presence };

// Thrown by validators: the message says what is wrong and where.
struct validation_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct record_type {
    std::string type_name;
    record_scope scope = record_scope::document;
    // Throws validation_error. Empty: any object with matching id/typeName.
    std::function<void(const json::object&)> validate;
};

enum class migration_scope { record, store, storage };

struct migration {
    std::string id; // "<sequenceId>/<version>"
    migration_scope scope = migration_scope::record;
    std::vector<std::string> depends_on; // other migration ids that must run first
    // Record-scoped: which records the step applies to (empty: all).
    std::function<bool(const json::object&)> filter;
    // Steps mutate the record in place; they throw on failure.
    std::function<void(json::object&)> up;
    std::function<void(json::object&)> down; // empty: cannot migrate down
    // Storage/store-scoped migrations work on a whole storage transaction.
    // (Upstream's legacy 'store' scope rewrote a snapshot object; here both
    // run against the transaction, which is what migrateStorage amounts to.)
    std::function<void(storage_txn&)> up_storage;
};

struct migration_sequence {
    std::string sequence_id;
    bool retroactive = true;
    std::vector<migration> migrations; // versions 1..N in order
};

enum class migration_direction { up, down };

enum class migration_failure {
    incompatible_schema,   // unknown version or bad serialized schema
    target_version_too_old,
    target_version_too_new,
    migration_error,       // a step threw
};

// The migrations between a persisted (client or stored) schema and this one,
// in dependency order. Computed once per session.
class migration_plan {
public:
    [[nodiscard]] bool empty() const noexcept { return steps_.empty(); }
    [[nodiscard]] const std::vector<const migration*>& steps() const noexcept { return steps_; }
    // HS3: every step is record-scoped and has a down step.
    [[nodiscard]] bool can_migrate_down() const noexcept;

private:
    friend class schema;
    std::vector<const migration*> steps_;
};

class schema {
public:
    schema(std::vector<record_type> types, std::vector<migration_sequence> sequences);
    schema(schema&&) noexcept;
    schema& operator=(schema&&) noexcept;
    schema(const schema&) = delete;
    schema& operator=(const schema&) = delete;
    ~schema();

    // RC1: { schemaVersion: 2, sequences: { id: latest version } }.
    [[nodiscard]] const json::object& serialize() const noexcept;
    // IM5: every sequence at version 0.
    [[nodiscard]] json::object serialize_earliest_version() const;

    [[nodiscard]] const record_type* find_type(std::string_view type_name) const noexcept;
    [[nodiscard]] const std::vector<record_type>& types() const noexcept;
    // RC2: the constructor throws std::invalid_argument for more than one.
    [[nodiscard]] const record_type* presence_type() const noexcept;

    [[nodiscard]] const std::vector<migration_sequence>& sequences() const noexcept;
    // Every migration in the order they run (sortMigrations: each sequence in
    // version order, dependsOn first, explicit dependencies kept close).
    [[nodiscard]] const std::vector<const migration*>& sorted_migrations() const noexcept;

    // getMigrationsSince, with upgradeSchema for schemaVersion 1 input.
    // An error (unknown sequence version, bad shape) is nullopt.
    [[nodiscard]] std::optional<migration_plan> migrations_since(const json::value& persisted) const;

    // migratePersistedRecord: applies `plan` (reversed for down) to a copy of
    // `record`. Returns the migrated record or the failure.
    struct migrate_result {
        std::optional<json::object> value;
        migration_failure failure = migration_failure::migration_error;
        explicit operator bool() const noexcept { return value.has_value(); }
    };
    [[nodiscard]] migrate_result migrate_record(const json::object& record, const migration_plan& plan,
                                                migration_direction dir) const;

    // migrateStorage: migrates every stored record up from the stored schema
    // to this one, updates the stored schema and removes records whose type is
    // not document-scoped. Throws std::runtime_error when it cannot.
    // When nothing needs migrating but the stored schema lacks sequences (a
    // custom shape's, added since), they are recorded at their current
    // version: otherwise records written from now on would be taken for
    // version 0 of that sequence once it gains a migration.
    void migrate_storage(storage_txn& txn) const;

    // `persisted` (a serialized schema needing no migration) plus the
    // sequences of this schema it lacks, or nullopt when it lacks none.
    // Sequences only `persisted` has are kept.
    [[nodiscard]] std::optional<json::object> with_missing_sequences(const json::object& persisted) const;

    // Checks typeName is known, id/typeName are strings, then the validator.
    // Throws validation_error.
    void validate_record(const json::object& record) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace tlsync::core
