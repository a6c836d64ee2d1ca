#pragma once
// Rooms follow files: what a replicated transaction means for the rooms
// whose ids are file ids. Sans-io; the server applies the events to its
// room registry (server/server.cpp).
//
//   file DELETE, or UPDATE/INSERT with isDeleted = true -> deleted
//   file INSERT/UPDATE otherwise                        -> live, readonly when
//        shared = false or sharedLinkType = 'view' (new non-owner sessions;
//        without authentication every new session counts as non-owner)
//   TRUNCATE of file                                     -> truncated (every file room)

#include "core/wal2json.hpp"

#include <string>
#include <vector>

namespace tlsync::core::pg {

struct file_event {
    enum kind { deleted, live, truncated } what = live;
    std::string file_id; // empty for truncated
    bool readonly = false;
    std::string name; // the file's name, for live
};

[[nodiscard]] std::vector<file_event> file_events(const transaction& t);

} // namespace tlsync::core::pg
