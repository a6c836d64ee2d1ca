// C++ ports of @tldraw/tlschema 5.4.2 migration steps, newest first within
// each sequence's reach. Semantics follow JavaScript on JSON data: assigning
// `undefined` is erasing the key, `x ?? y` treats null and absent alike, and a
// step that would throw a TypeError in JS (e.g. a missing `props`) throws here.
#include "core/storage.hpp"
#include "core/tldraw_schema.hpp"

#include <algorithm>
#include <cctype>
#include <random>
#include <string>

namespace tlsync::core::detail {

namespace {

using step = std::function<void(json::object&)>;

[[noreturn]] void not_supported(std::string_view id, std::string_view why) {
    throw std::runtime_error("migration " + std::string(id) + " not supported: " + std::string(why));
}

json::object& props_of(json::object& r) {
    auto* p = r.if_contains("props");
    if (!p || !p->is_object()) throw std::runtime_error("record has no props object");
    return p->get_object();
}

bool num_eq(const json::value* v, double d) { return v && is_number(*v) && to_double(*v) == d; }
bool str_eq(const json::value* v, std::string_view s) { return v && v->is_string() && v->get_string() == s; }
bool nullish(const json::value* v) { return !v || v->is_null(); }

// `o[to] = o[from]; delete o[from]` where an absent `from` reads as undefined.
void move_key(json::object& o, std::string_view from, std::string_view to) {
    if (const auto* v = o.if_contains(from)) {
        json::value copy = *v;
        o[to] = std::move(copy);
    } else {
        o.erase(to);
    }
    o.erase(from);
}

json::value to_rich_text(const json::value* text) {
    if (!text || !text->is_string()) throw std::runtime_error("text is not a string");
    std::string_view s = text->get_string();
    json::array content;
    for (std::size_t start = 0;;) {
        auto nl = s.find('\n', start);
        auto line = s.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
        json::object para{{"type", "paragraph"}};
        if (!line.empty()) para["content"] = json::array{json::object{{"type", "text"}, {"text", line}}};
        content.push_back(std::move(para));
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    return json::object{{"type", "doc"}, {"content", std::move(content)}};
}

void remove_rich_text_attrs(json::object& props) {
    auto* rt = props.if_contains("richText");
    if (!rt || !is_truthy(*rt)) return;
    if (rt->is_object()) rt->get_object().erase("attrs");
    else if (!rt->is_array()) throw std::runtime_error("richText is not an object"); // `in` on a primitive
}

json::array& segments_of(json::object& props) {
    auto* s = props.if_contains("segments");
    if (!s || !s->is_array()) throw std::runtime_error("props.segments is not an array");
    return s->get_array();
}

// Base64 / LegacyPointsConversion up: segments that already carry `path` are
// left alone; converting legacy `points` needs the b64Vecs codec we lack.
void require_paths(std::string_view id, json::object& props) {
    for (auto& seg : segments_of(props)) {
        const auto* o = seg.if_object();
        if (!o || !o->contains("path")) not_supported(id, "segment without a b64 path");
    }
}

// OmitNonPressureZ down: drop `dim`; a 2D path would need re-encoding to 3D.
void strip_dim(std::string_view id, json::object& props) {
    for (auto& seg : segments_of(props)) {
        auto* o = seg.if_object();
        if (!o || !o->contains("dim")) continue;
        if (num_eq(o->if_contains("dim"), 2)) not_supported(id, "re-encoding a 2D draw path");
        o->erase("dim");
    }
}

// T.linkUrl / T.srcUrl validity without a WHATWG URL parser: answers only
// when the answer is certain, otherwise nullopt.
std::optional<bool> url_valid(const json::value* v, std::initializer_list<std::string_view> allowed) {
    if (!v || !v->is_string()) return false;
    std::string_view s = v->get_string();
    if (s.empty()) return true;
    for (unsigned char c : s)
        if (c <= 0x20 || c == 0x7f || c == '\\') return std::nullopt; // the parser strips or rewrites these
    auto lower = [](std::string_view x) {
        std::string r(x);
        for (auto& c : r) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        return r;
    };
    std::size_t i = 0;
    if ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) {
        while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '+' || s[i] == '-' ||
                                s[i] == '.'))
            ++i;
    }
    if (i == 0 || i >= s.size() || s[i] != ':') {
        // No scheme: only a path resolved against a base can parse.
        if (s.starts_with("./") || (s.starts_with("/") && !s.starts_with("//"))) return true;
        if (s.starts_with("/")) return std::nullopt;
        return false;
    }
    std::string scheme = lower(s.substr(0, i));
    if (std::find(allowed.begin(), allowed.end(), scheme) == allowed.end()) return false;
    std::string_view rest = s.substr(i + 1);
    if (scheme != "http" && scheme != "https") {
        if (rest.starts_with("//")) return std::nullopt; // opaque host rules
        return true;
    }
    if (!rest.starts_with("//")) return std::nullopt;
    rest.remove_prefix(2);
    auto end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    std::string_view host = authority.substr(0, authority.find(':'));
    if (host.empty()) return std::nullopt;
    bool letter_in_last_label = false;
    for (char c : host) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return std::nullopt;
        if (c == '.') letter_in_last_label = false;
        else if (std::isalpha(static_cast<unsigned char>(c))) letter_in_last_label = true;
    }
    if (!letter_in_last_label) return std::nullopt; // IPv4 parsing rules
    if (host.size() < authority.size()) {
        auto port = authority.substr(host.size() + 1);
        if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
        if (!port.empty() && std::stol(std::string(port)) > 65535) return std::nullopt;
    }
    return true;
}

void make_url_valid(std::string_view id, json::object& props, std::string_view key,
                    std::initializer_list<std::string_view> allowed) {
    auto ok = url_valid(props.if_contains(key), allowed);
    if (!ok) not_supported(id, "cannot decide whether the url is valid");
    if (!*ok) props[key] = "";
}

std::string random_base62_digits(int n) {
    static constexpr std::string_view digits = "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    thread_local std::mt19937 rng{std::random_device{}()};
    std::uniform_int_distribution<std::size_t> pick(0, digits.size() - 1);
    std::string r;
    for (int i = 0; i < n; ++i) r += digits[pick(rng)];
    return r;
}

// FixIndexKeys: fractional indexes must not end in '0' (except "a0").
void fix_index(json::value& holder_index) {
    if (!holder_index.is_string()) throw std::runtime_error("index is not a string");
    auto& s = holder_index.get_string();
    if (!s.empty() && s.back() == '0' && s != "a0") {
        std::string next(s.subview().substr(0, s.size() - 1));
        s = next + random_base62_digits(3);
    }
}

std::string_view type_name_of(const json::object& r) {
    const auto* tn = r.if_contains("typeName");
    if (!tn || !tn->is_string()) throw std::runtime_error("record has no string typeName");
    return tn->get_string();
}

// ExtractBindings: arrow terminals bound to shapes become binding records.
void extract_arrow_bindings(storage_txn& txn) {
    std::vector<std::pair<std::string, json::object>> updates;
    txn.for_each([&](std::string_view, const json::object& r) {
        if (!str_eq(r.if_contains("typeName"), "shape") || !str_eq(r.if_contains("type"), "arrow")) return;
        json::object next = r;
        auto& props = props_of(next);
        for (std::string_view terminal : {"start", "end"}) {
            auto* t = props.if_contains(terminal);
            if (!t || !t->is_object()) throw std::runtime_error("arrow terminal is not an object");
            auto& term = t->get_object();
            if (!str_eq(term.if_contains("type"), "binding")) {
                term.erase("type");
                continue;
            }
            std::string id = "binding:" + random_base62_digits(21);
            json::object bprops{{"terminal", terminal}};
            for (std::string_view k : {"normalizedAnchor", "isExact", "isPrecise"})
                if (const auto* v = term.if_contains(k)) bprops[k] = *v;
            json::object binding{{"typeName", "binding"}, {"id", id}, {"type", "arrow"}, {"meta", json::object{}},
                                 {"props", std::move(bprops)}};
            if (const auto* from = r.if_contains("id")) binding["fromId"] = *from;
            if (const auto* to = term.if_contains("boundShapeId")) binding["toId"] = *to;
            updates.emplace_back(std::move(id), std::move(binding));
            *t = json::object{{"x", 0}, {"y", 0}};
        }
        const auto* id = r.if_contains("id");
        if (!id || !id->is_string()) throw std::runtime_error("arrow has no string id");
        updates.emplace_back(std::string(id->get_string()), std::move(next));
    });
    for (auto& [id, rec] : updates) txn.set(id, std::move(rec));
}

// Storage steps collect ids first: for_each forbids writes while visiting.
void delete_where(storage_txn& txn, const std::function<bool(const json::object&)>& pred) {
    std::vector<std::string> ids;
    txn.for_each([&](std::string_view id, const json::object& r) {
        if (pred(r)) ids.emplace_back(id);
    });
    for (const auto& id : ids) txn.remove(id);
}

} // namespace

const std::vector<tldraw_steps>& tldraw_ported_steps() {
    static const std::vector<tldraw_steps> steps = [] {
        std::vector<tldraw_steps> v;
        auto rec = [&](std::string_view id, step up, step down, bool partial = false) {
            v.push_back({{id, bool(up), bool(down), partial}, std::move(up), std::move(down), {}});
        };
        // Shape/binding/asset props migrations run on record.props.
        auto props = [&](std::string_view id, step up, step down, bool partial = false) {
            auto wrap = [](step f) -> step {
                if (!f) return {};
                return [f = std::move(f)](json::object& r) { f(props_of(r)); };
            };
            rec(id, wrap(std::move(up)), wrap(std::move(down)), partial);
        };
        auto storage = [&](std::string_view id, std::function<void(storage_txn&)> up) {
            v.push_back({{id, true, false, false}, {}, {}, std::move(up)});
        };
        auto set = [](std::string key, json::value val) -> step {
            return [key = std::move(key), val = std::move(val)](json::object& o) { o[key] = val; };
        };
        auto erase = [](std::initializer_list<std::string_view> keys) -> step {
            std::vector<std::string> ks(keys.begin(), keys.end());
            return [ks](json::object& o) {
                for (const auto& k : ks) o.erase(k);
            };
        };
        const step noop = [](json::object&) {};
        const step add_meta = set("meta", json::object{});

        // com.tldraw.store
        storage("com.tldraw.store/1", [](storage_txn& txn) {
            delete_where(txn, [](const json::object& r) {
                return str_eq(r.if_contains("typeName"), "shape") &&
                       (str_eq(r.if_contains("type"), "icon") || str_eq(r.if_contains("type"), "code"));
            });
        });
        storage("com.tldraw.store/2", [](storage_txn&) {});
        storage("com.tldraw.store/3", [](storage_txn& txn) {
            delete_where(txn, [](const json::object& r) {
                const auto& tn = type_name_of(r);
                return tn == "user" || tn == "user_presence";
            });
        });
        storage("com.tldraw.store/4", [](storage_txn& txn) {
            delete_where(txn, [](const json::object& r) {
                return type_name_of(r).find("user_document") != std::string_view::npos;
            });
        });
        rec("com.tldraw.store/5",
            [](json::object& r) {
                const auto* tn = r.if_contains("typeName");
                if (!(str_eq(tn, "shape") || str_eq(tn, "page")) || !r.contains("index")) return;
                fix_index(r["index"]);
                if (str_eq(tn, "shape") && str_eq(r.if_contains("type"), "line")) {
                    auto* points = props_of(r).if_contains("points");
                    if (!points || !points->is_object()) throw std::runtime_error("line points is not an object");
                    for (auto& [k, point] : points->get_object()) {
                        if (!point.is_object()) throw std::runtime_error("line point is not an object");
                        auto* idx = point.get_object().if_contains("index");
                        if (!idx) throw std::runtime_error("line point has no index");
                        fix_index(*idx);
                    }
                }
            },
            noop);

        // Record types whose first migration added `meta`.
        for (auto id : {"com.tldraw.asset/1", "com.tldraw.camera/1", "com.tldraw.page/1", "com.tldraw.pointer/1",
                        "com.tldraw.document/2", "com.tldraw.shape/3"})
            rec(id, add_meta, {});
        rec("com.tldraw.document/1", set("name", ""), erase({"name"}));
        rec("com.tldraw.user/1", noop, {});

        rec("com.tldraw.instance/23", set("insets", json::array{false, false, false, false}), erase({"insets"}));
        rec("com.tldraw.instance/24", set("duplicateProps", nullptr), erase({"duplicateProps"}));
        rec("com.tldraw.instance/25", erase({"canMoveCamera"}), set("canMoveCamera", true));
        rec("com.tldraw.instance/26", set("cameraState", "idle"), erase({"cameraState"}));

        rec("com.tldraw.instance_page_state/4", noop, noop);
        rec("com.tldraw.instance_page_state/5",
            [](json::object& r) {
                move_key(r, "selectedIds", "selectedShapeIds");
                move_key(r, "hintingIds", "hintingShapeIds");
                move_key(r, "erasingIds", "erasingShapeIds");
                move_key(r, "hoveredId", "hoveredShapeId");
                move_key(r, "editingId", "editingShapeId");
                if (nullish(r.if_contains("croppingShapeId"))) {
                    const auto* old = r.if_contains("croppingId");
                    json::value v = nullish(old) ? json::value(nullptr) : *old;
                    r["croppingShapeId"] = std::move(v);
                }
                r.erase("croppingId");
                move_key(r, "focusLayerId", "focusedGroupId");
            },
            [](json::object& r) {
                move_key(r, "selectedShapeIds", "selectedIds");
                move_key(r, "hintingShapeIds", "hintingIds");
                move_key(r, "erasingShapeIds", "erasingIds");
                move_key(r, "hoveredShapeId", "hoveredId");
                move_key(r, "editingShapeId", "editingId");
                move_key(r, "croppingShapeId", "croppingId");
                move_key(r, "focusedGroupId", "focusLayerId");
            });

        rec("com.tldraw.instance_presence/5", noop, {});
        rec("com.tldraw.instance_presence/6", noop, [](json::object& r) {
            auto fill = [&](std::string_view k, json::value def) {
                if (auto* v = r.if_contains(k); v && v->is_null()) *v = std::move(def);
            };
            fill("camera", json::object{{"x", 0}, {"y", 0}, {"z", 1}});
            fill("lastActivityTimestamp", 0);
            fill("cursor", json::object{{"type", "default"}, {"x", 0}, {"y", 0}, {"rotation", 0}});
            fill("screenBounds", json::object{{"x", 0}, {"y", 0}, {"w", 1}, {"h", 1}});
        });

        rec("com.tldraw.shape/4", noop, [](json::object& r) {
            auto& p = props_of(r);
            if (str_eq(p.if_contains("color"), "white")) p["color"] = "black";
        });

        // Asset props (filtered by asset type, but shaped like record steps).
        auto asset = [&](std::string_view id, step up, step down, bool partial = false) { props(id, up, down, partial); };
        asset("com.tldraw.asset.image/4", set("fileSize", -1), erase({"fileSize"}));
        asset("com.tldraw.asset.video/4", set("fileSize", -1), erase({"fileSize"}));
        for (auto id : {"com.tldraw.asset.image/5", "com.tldraw.asset.video/5"})
            asset(id,
                  [](json::object& p) {
                      if (num_eq(p.if_contains("fileSize"), -1)) p.erase("fileSize");
                  },
                  [](json::object& p) {
                      if (!p.contains("fileSize")) p["fileSize"] = -1;
                  });
        asset("com.tldraw.asset.image/6", noop, erase({"pixelRatio"}));
        asset(
            "com.tldraw.asset.bookmark/2",
            [](json::object& p) {
                make_url_valid("com.tldraw.asset.bookmark/2", p, "favicon", {"http", "https", "data", "asset"});
            },
            erase({"favicon"}), true);

        const step add_scale = set("scale", 1);
        const step del_scale = erase({"scale"});
        auto rich_text = [](json::object& p) {
            p["richText"] = to_rich_text(p.if_contains("text"));
            p.erase("text");
        };
        const step del_attrs = remove_rich_text_attrs;
        const step add_flip = [](json::object& p) {
            p["flipX"] = false;
            p["flipY"] = false;
        };
        const step del_flip = erase({"flipX", "flipY"});

        storage("com.tldraw.shape.arrow/4", extract_arrow_bindings);
        props("com.tldraw.shape.arrow/5", add_scale, del_scale);
        props("com.tldraw.shape.arrow/6",
              [](json::object& p) {
                  p["kind"] = "arc";
                  p["elbowMidPoint"] = 0.5;
              },
              erase({"kind", "elbowMidPoint"}));
        props("com.tldraw.shape.arrow/7", rich_text, {});
        props("com.tldraw.shape.arrow/8", noop, del_attrs);

        props(
            "com.tldraw.shape.bookmark/2",
            [](json::object& p) { make_url_valid("com.tldraw.shape.bookmark/2", p, "url", {"http", "https", "mailto"}); },
            noop, true);

        // draw and highlight share the b64 path history.
        auto b64_family = [&](std::string_view scale, std::string_view base64, std::string_view legacy,
                              std::string_view omit_z) {
            props(scale, add_scale, del_scale);
            props(
                base64,
                [base64](json::object& p) {
                    require_paths(base64, p);
                    if (nullish(p.if_contains("scaleX"))) p["scaleX"] = 1;
                    if (nullish(p.if_contains("scaleY"))) p["scaleY"] = 1;
                },
                {}, true);
            props(legacy, [legacy](json::object& p) { require_paths(legacy, p); }, noop, true);
            props(omit_z, noop, [omit_z](json::object& p) { strip_dim(omit_z, p); }, true);
        };
        b64_family("com.tldraw.shape.draw/2", "com.tldraw.shape.draw/3", "com.tldraw.shape.draw/4",
                   "com.tldraw.shape.draw/5");
        b64_family("com.tldraw.shape.highlight/1", "com.tldraw.shape.highlight/2", "com.tldraw.shape.highlight/3",
                   "com.tldraw.shape.highlight/4");

        props("com.tldraw.shape.embed/2", erase({"doesResize"}), {});
        props("com.tldraw.shape.embed/3", erase({"tmpOldUrl"}), {});
        props("com.tldraw.shape.embed/4", erase({"overridePermissions"}), {});
        props("com.tldraw.shape.frame/1", set("color", "black"), erase({"color"}));

        props("com.tldraw.shape.geo/9", add_scale, del_scale);
        props("com.tldraw.shape.geo/10", rich_text, {});
        props("com.tldraw.shape.geo/11", noop, del_attrs);
        props("com.tldraw.shape.geo/12", add_flip, del_flip);

        props("com.tldraw.shape.image/2", set("crop", nullptr), erase({"crop"}));
        props("com.tldraw.shape.image/4", add_flip, del_flip);
        props("com.tldraw.shape.image/5", set("altText", ""), erase({"altText"}));

        props("com.tldraw.shape.line/5", add_scale, del_scale);

        props("com.tldraw.shape.note/6", set("fontSizeAdjustment", 0), erase({"fontSizeAdjustment"}));
        props("com.tldraw.shape.note/7", add_scale, del_scale);
        props("com.tldraw.shape.note/8", set("labelColor", "black"), erase({"labelColor"}));
        props("com.tldraw.shape.note/9", rich_text, {});
        props("com.tldraw.shape.note/10", noop, del_attrs);
        props("com.tldraw.shape.note/11", set("textFirstEditedBy", nullptr), erase({"textFirstEditedBy"}));
        props("com.tldraw.shape.note/12",
              [](json::object& p) {
                  bool zero = num_eq(p.if_contains("fontSizeAdjustment"), 0);
                  p["fontSizeAdjustment"] = zero ? json::value(1) : json::value(nullptr);
              },
              set("fontSizeAdjustment", 0));
        auto rename_nullish = [](std::string from, std::string to) -> step {
            return [from, to](json::object& p) {
                const auto* v = p.if_contains(from);
                json::value nv = nullish(v) ? json::value(nullptr) : *v;
                p[to] = std::move(nv);
                p.erase(from);
            };
        };
        props("com.tldraw.shape.note/13", rename_nullish("textFirstEditedBy", "textLastEditedBy"),
              rename_nullish("textLastEditedBy", "textFirstEditedBy"));

        props("com.tldraw.shape.text/2", [](json::object& p) { move_key(p, "align", "textAlign"); },
              [](json::object& p) { move_key(p, "textAlign", "align"); });
        props("com.tldraw.shape.text/3", rich_text, {});
        props("com.tldraw.shape.text/4", noop, del_attrs);

        props("com.tldraw.shape.video/3", set("altText", ""), erase({"altText"}));
        props("com.tldraw.shape.video/4", set("autoplay", true), erase({"autoplay"}));

        props("com.tldraw.binding.arrow/1", set("snap", "none"), erase({"snap"}));
        return v;
    }();
    return steps;
}

} // namespace tlsync::core::detail
