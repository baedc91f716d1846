// Unit tests of the pure conversions: wire bytes and records to values, desired values to
// records, key files, server addresses.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/api/names.h"
#include "engine/api/schema.h"
#include "providers/dns/dns_client.h"
#include "providers/dns/dns_desired.h"
#include "providers/dns/dns_key_file.h"
#include "providers/dns/dns_rdata.h"
#include "providers/dns/dns_zone_index.h"

using namespace converge;
using namespace converge::dns;

namespace {

std::vector<uint8_t> hex(const std::string& s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
  return out;
}

// An AXFR answer for zone "local." as a server sends it (hand-assembled, with name compression):
// SOA, NS, A for "EXCH1.Target.local." (mixed case), two MX at target.local. (one target in
// upper case), a TXT with two strings (one holding a quote), an AAAA, an SRV, and the closing SOA.
const char* kAxfrAnswer =
    "123484000001000900000000056c6f63616c0000fc0001c00c00060001000001"
    "2c0030026e73056c6f63616c000a686f73746d6173746572056c6f63616c0000"
    "00000700000e1000000258000151800000003cc00c000200010000012c000a02"
    "6e73056c6f63616c0005455843483106546172676574c00c0001000100000e10"
    "0004c000020b06746172676574c00c000f000100000e100011000a0565786368"
    "3106544152474554c00c06746172676574c00c000f000100000e100014001404"
    "6d61696c076578616d706c6503636f6d0003747874c00c001000010000003c00"
    "100b68656c6c6f20776f726c6403612262027636c00c001c00010000012c0010"
    "20010db8000000000000000000000001045f736970045f746370c00c00210001"
    "0000012c00110000000513c403736970056c6f63616c00c00c00060001000001"
    "2c0030026e73056c6f63616c000a686f73746d6173746572056c6f63616c0000"
    "00000700000e1000000258000151800000003c";

RRset only(const ZoneRRsets& sets, const std::string& owner, const std::string& type) {
  auto it = sets.find(rrset_key(owner, type));
  REQUIRE_MESSAGE(it != sets.end(), owner << " " << type << " missing");
  return it->second;
}

}  // namespace

TEST_CASE("an AXFR answer becomes canonical RRsets") {
  auto wire = hex(kAxfrAnswer);
  auto m = parse_message(wire.data(), wire.size());
  REQUIRE(m.ok());
  CHECK(m->rcode == 0);
  CHECK_FALSE(m->has_tsig);
  const ZoneRRsets& s = m->answer;
  CHECK(s.size() == 7);  // SOA (twice, one set), NS, A, MX, TXT, AAAA, SRV

  RRset a = only(s, "exch1.target.local.", "A");
  CHECK(a.owner == "exch1.target.local.");  // lower-cased
  CHECK(a.ttl == 3600);
  CHECK(a.values == std::vector<std::string>{"192.0.2.11"});

  RRset mx = only(s, "TARGET.local", "mx");  // keys are canonical whatever the spelling
  CHECK(mx.values == std::vector<std::string>{"10 exch1.target.local.", "20 mail.example.com."});

  CHECK(only(s, "txt.local.", "TXT").values ==
        std::vector<std::string>{"\"hello world\" \"a\\\"b\""});
  CHECK(only(s, "v6.local.", "AAAA").values == std::vector<std::string>{"2001:db8::1"});
  CHECK(only(s, "_sip._tcp.local.", "SRV").values ==
        std::vector<std::string>{"0 5 5060 sip.local."});
  CHECK(only(s, "local.", "NS").values == std::vector<std::string>{"ns.local."});
  RRset soa = only(s, "local.", "SOA");
  CHECK(soa.values.size() == 1);
  CHECK(soa.values[0] == "ns.local. hostmaster.local. 7 3600 600 86400 60");
}

TEST_CASE("truncated and garbage messages are errors, not crashes") {
  auto wire = hex(kAxfrAnswer);
  for (size_t cut : {0ul, 5ul, 12ul, 40ul, 100ul, wire.size() - 1}) {
    auto m = parse_message(wire.data(), cut);
    CHECK_FALSE(m.ok());
    if (!m.ok()) CHECK(m.error().message.find("malformed DNS message") == 0);
  }
  std::vector<uint8_t> junk(64, 0xC0);
  CHECK_FALSE(parse_message(junk.data(), junk.size()).ok());
}

TEST_CASE("a TSIG record anywhere but last is refused before ldns parses it (ldns leaks it)") {
  // Three additional records: TSIG a., TSIG b. (both with empty RDATA), then A c.
  std::vector<uint8_t> w = {0, 1,   0x80, 0, 0,   0, 0,   0, 0, 0, 0, 3,     //
                            1, 'a', 0,    0, 250, 0, 255, 0, 0, 0, 0, 0, 0,  //
                            1, 'b', 0,    0, 250, 0, 255, 0, 0, 0, 0, 0, 0,  //
                            1, 'c', 0,    0, 1,   0, 1,   0, 0, 0, 0, 0, 4, 1, 2, 3, 4};
  PktPtr pkt;
  CHECK(parse_wire(w.data(), w.size(), &pkt) == LDNS_STATUS_WIRE_RDATA_ERR);
  CHECK_FALSE(pkt);
  CHECK_FALSE(parse_message(w.data(), w.size()).ok());
  w[11] = 1;  // only the first TSIG: it is last, and ldns reads it as the message's TSIG
  w.resize(25);
  REQUIRE(parse_wire(w.data(), w.size(), &pkt) == LDNS_STATUS_OK);
  CHECK(ldns_pkt_tsig(pkt.get()) != nullptr);
}

TEST_CASE("observation attributes use the declared names and the desired spelling") {
  auto wire = hex(kAxfrAnswer);
  auto m = parse_message(wire.data(), wire.size());
  REQUIRE(m.ok());
  RRset mx = only(m->answer, "target.local.", "MX");

  // The manifest wrote one value with different spacing; the other is not desired.
  auto spelled = desired_spellings("target.local.", "MX", {"10   EXCH1.target.local."}, "local");
  REQUIRE(spelled.ok());
  AttrMap a = record_attrs(mx, "LOCAL", *spelled);
  CHECK(a.at("zone") == Value::Str("local."));
  CHECK(a.at("name") == Value::Str("target.local."));
  CHECK(a.at("type") == Value::Str("MX"));
  CHECK(a.at("ttl") == Value::Int(3600));
  CHECK(a.at("values") == Value::StrList({"10   EXCH1.target.local.", "20 mail.example.com."}));

  // The engine's comparison then sees exactly one difference: the extra value.
  CHECK_FALSE(
      satisfies(Value::StrList({"10   EXCH1.target.local."}), a.at("values"), Compare::kDnsValues));
  CHECK(satisfies(Value::StrList({"20 mail.example.com.", "10   EXCH1.target.local."}),
                  a.at("values"), Compare::kDnsValues));
}

TEST_CASE("equivalent spellings of desired values map to one canonical form") {
  auto c = [](const char* type, const char* v) {
    auto r = canonical_value(type, v, "local.");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    return *r;
  };
  CHECK(c("AAAA", "2001:DB8:0:0:0:0:0:1") == "2001:db8::1");
  CHECK(c("A", " 192.0.2.11 ") == "192.0.2.11");
  CHECK(c("MX", "10 exch1.target") == "10 exch1.target.local.");  // relative to the zone
  CHECK(c("MX", "10 EXCH1.Target.Local.") == "10 exch1.target.local.");
  CHECK(c("TXT", "hello") == "\"hello\"");
  CHECK(c("TXT", "\"Hello World\"") == "\"Hello World\"");  // text keeps its case
  CHECK(c("SRV", "0 5 5060 SIP.local.") == "0 5 5060 sip.local.");
  CHECK(c("CNAME", "@") == "local.");
  CHECK(c("PTR", "host.example.") == "host.example.");
}

TEST_CASE("desired spellings map canonical forms to the manifest's, for the values that differ") {
  auto s = desired_spellings("host.local.", "MX", {"10 a.local.", "20 B.local.", "30 c"}, "local.");
  REQUIRE(s.ok());
  CHECK(*s == Spellings{{"20 b.local.", "20 B.local."}, {"30 c.local.", "30 c"}});
  CHECK_FALSE(desired_spellings("host.local.", "A", {"192.0.2.1", "1.2.3"}, "local.").ok());
  CHECK_FALSE(desired_spellings("a..b.local.", "A", {"192.0.2.1"}, "local.").ok());
  CHECK_FALSE(desired_spellings("host.local.", "A", {"192.0.2.1"}, "a..local.").ok());

  // Values found verbatim among the observed ones are canonical: nothing to map; the others are
  // parsed as ever.
  std::vector<std::string> observed = {"10 exch1.target.local.", "20 mail.example.com."};
  s = desired_spellings("target.local.", "MX", {"10 exch1.target.local."}, "local.", &observed);
  REQUIRE(s.ok());
  CHECK(s->empty());
  s = desired_spellings("target.local.", "MX", {"10 EXCH1.target.local."}, "local.", &observed);
  REQUIRE(s.ok());
  CHECK(*s == Spellings{{"10 exch1.target.local.", "10 EXCH1.target.local."}});
  CHECK_FALSE(desired_spellings("target.local.", "MX", {"x exch1."}, "local.", &observed).ok());
}

TEST_CASE("malformed values are clear errors naming the value") {
  auto bad = [](const char* type, const char* v) {
    auto r = canonical_value(type, v, "local.");
    REQUIRE_FALSE(r.ok());
    return r.error().message;
  };
  CHECK(bad("AAAA", "2001:zz::1").find("malformed AAAA value '2001:zz::1'") == 0);
  CHECK(bad("A", "300.1.1.1").find("malformed A value") == 0);
  CHECK(bad("MX", "ten mail.local.").find("malformed MX value") == 0);
  CHECK(bad("TXT", "a;b").find("unquoted ';'") != std::string::npos);
  CHECK(bad("TXT", "\"open").find("unterminated quote") != std::string::npos);
  CHECK(bad("A", "1.2.3.4\nx 1 IN A 5.6.7.8").find("control character") != std::string::npos);
  CHECK(bad("A", "").find("empty A value") == 0);
  CHECK(bad("A", "192.0.2.1 192.0.2.2").find("malformed A value") == 0);  // one value per string
  CHECK(bad("MX", "10 a.local. extra").find("malformed MX value") == 0);
}

namespace {

// A record as ldns itself reads it from presentation text (no converge code on the way).
RrPtr ldns_record(const std::string& text) {
  ldns_rr* raw = nullptr;
  ldns_status st = ldns_rr_new_frm_str(&raw, text.c_str(), 3600, nullptr, nullptr);
  REQUIRE_MESSAGE(st == LDNS_STATUS_OK, text << ": " << ldns_get_errorstr_by_id(st));
  return RrPtr(raw);
}

}  // namespace

TEST_CASE("canonical presentation: names lower-cased, everything else as ldns prints it") {
  struct Case {
    std::string record, rdata, owner;
  };
  for (const Case& c : std::vector<Case>{
           {"a.local. AAAA ::FFFF:1.2.3.4", "::ffff:1.2.3.4", "a.local."},
           {"a.local. AAAA 2001:DB8:0:0:0:0:0:1", "2001:db8::1", "a.local."},
           {"a.local. TXT \"a\" \"\" \"q\\\"\"", "\"a\" \"\" \"q\\\"\"", "a.local."},
           {"a.local. TXT \"Hello World\"", "\"Hello World\"", "a.local."},  // text keeps case
           {"a.local. MX 5 A\\032B.Local.", "5 a\\032b.local.", "a.local."},
           {"a.local. SRV 0 5 5060 SIP.Local.", "0 5 5060 sip.local.", "a.local."},
           {"a.local. MX 0 .", "0 .", "a.local."},
           {"local. SOA ns.Local. Host\\.master.local. 7 3600 600 86400 60",
            "ns.local. host\\.master.local. 7 3600 600 86400 60", "local."},
           {"EXCH1.Target.LOCAL. A 192.0.2.1", "192.0.2.1", "exch1.target.local."},
           {"A\\..Local. A 192.0.2.1", "192.0.2.1", "a\\..local."},
           {"x.A\\.. A 192.0.2.1", "192.0.2.1", "x.a\\."},  // canonical_dns_name's dot rule
           {"a.local. CAA 0 issue \"ca.example\"", "0 issue \"ca.example\"", "a.local."},
       }) {
    INFO(c.record);
    RrPtr rr = ldns_record(c.record);
    CHECK(rdata_text(rr.get()) == c.rdata);
    CHECK(owner_name(rr.get()) == c.owner);
  }
  RrPtr mx = ldns_record("a.local. MX 5 Mail.Local.");
  CHECK(rdf_text(ldns_rr_rdf(mx.get(), 1)) == "mail.local.");
  CHECK(rdf_text(ldns_rr_rdf(mx.get(), 1), false) == "Mail.Local.");
}

TEST_CASE("records become RRsets: sorted unique values, the smallest TTL, canonical keys") {
  ZoneRRsets sets;
  for (const char* text :
       {"x.local. 300 A 10.0.0.2", "X.LOCAL. 100 A 10.0.0.1", "x.local. 200 A 10.0.0.2",
        "x.Local. 50 A 10.0.0.3", "x.local. 60 A 10.0.0.10", "x.local. TXT \"b\"",
        "x.local. TXT \"a\"", "x.local. TXT \"b\""})
    add_record(sets, ldns_record(text).get());
  CHECK(sets.size() == 2);
  const RRset& a = sets.at("x.local.|A");
  CHECK(a.owner == "x.local.");
  CHECK(a.type == "A");
  CHECK(a.ttl == 50);
  CHECK(a.values == std::vector<std::string>{"10.0.0.1", "10.0.0.10", "10.0.0.2", "10.0.0.3"});
  CHECK(sets.at(rrset_key("X.Local", "txt")).values == std::vector<std::string>{"\"a\"", "\"b\""});
  AttrMap attrs = record_attrs(a, "LOCAL", {});
  CHECK(attrs.at("zone") == Value::Str("local."));
  CHECK(attrs.at("values") == Value::StrList({"10.0.0.1", "10.0.0.10", "10.0.0.2", "10.0.0.3"}));
}

TEST_CASE("records built for updates carry owner, TTL and class") {
  auto rr = make_record("exch1.target.local.", 3600, "A", "192.0.2.11", "local");
  REQUIRE(rr.ok());
  CHECK(ldns_rr_get_type(rr->get()) == LDNS_RR_TYPE_A);
  CHECK(ldns_rr_get_class(rr->get()) == LDNS_RR_CLASS_IN);
  CHECK(ldns_rr_ttl(rr->get()) == 3600);
  CHECK(rdata_text(rr->get()) == "192.0.2.11");
  auto wrong = make_record("x.local.", 1, "BOGUS", "1", "local");
  CHECK_FALSE(wrong.ok());
}

TEST_CASE("BIND key files") {
  const char* keygen =
      "key \"converge-test\" {\n"
      "\talgorithm hmac-sha256;\n"
      "\tsecret \"ut+1RykdzhcJpI8AxFE/h4HxzjAAEoDvzk+Ofvc0nzg=\";\n"
      "};\n";
  auto keys = parse_bind_keys(keygen);
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 1);
  CHECK(keys->at(0).name == "converge-test");
  CHECK(keys->at(0).algorithm == "hmac-sha256.");
  CHECK(keys->at(0).secret == "ut+1RykdzhcJpI8AxFE/h4HxzjAAEoDvzk+Ofvc0nzg=");

  auto two = parse_bind_keys(
      "# comment\n// another\n/* block\ncomment */ key a { algorithm \"HMAC-SHA512\"; secret "
      "\"YWJj\"; };\n"
      "key \"b\" { secret \"ZGVm\"; algorithm hmac-md5; };");
  REQUIRE(two.ok());
  CHECK(two->size() == 2);
  CHECK(two->at(0).algorithm == "hmac-sha512.");
  CHECK(two->at(1).algorithm == "hmac-md5.sig-alg.reg.int.");

  struct Case {
    const char* text;
    const char* error;
  };
  const std::string secret = "c2VjcmV0LXZhbHVl";  // must never show in an error
  for (const Case& c : std::vector<Case>{
           {"", "no key in the file"},
           {"options { };", "line 1: expected 'key', found 'options'"},
           {"key \"k\" { algorithm hmac-sha256; };", "line 1: key \"k\" has no secret"},
           {"key \"k\" { secret \"c2VjcmV0LXZhbHVl\"; };", "has no algorithm"},
           {"key \"k\" {\n algorithm hmac-sha384;\n secret \"c2VjcmV0LXZhbHVl\"; };",
            "unsupported TSIG algorithm"},
           {"key \"k\" { algorithm hmac-sha256; secret \"c2VjcmV0LXZhbHVl!!\"; };",
            "is not valid base64"},
           {"key \"k\" { algorithm hmac-sha256; secret \"c2VjcmV0LXZhbHVl\" };",
            "expected ';', found '}'"},
           {"key \"k\" { algorithm hmac-sha256;\n\n secret \"c2VjcmV0LXZhbHVl\"; }",
            "line 3: expected ';'"},
           {"key \"k\" { algorithm hmac-sha256; secret \"unterminated; };",
            "unterminated quoted string"},
           {"key \"k\" { algorithm hmac-sha256; owner x; };", "unknown statement 'owner'"},
       }) {
    auto r = parse_bind_keys(c.text);
    REQUIRE_FALSE(r.ok());
    INFO(c.text);
    CHECK(r.error().message.find(c.error) != std::string::npos);
    CHECK(r.error().message.find(secret) == std::string::npos);
    CHECK(r.error().hint.find(secret) == std::string::npos);
  }
}

TEST_CASE("TSIG algorithms and base64") {
  CHECK(*canonical_algorithm("hmac-sha256") == "hmac-sha256.");
  CHECK(*canonical_algorithm("HMAC-SHA1.") == "hmac-sha1.");
  CHECK_FALSE(canonical_algorithm("hmac-sha384").ok());
  CHECK_FALSE(canonical_algorithm("rsa").ok());
  CHECK(valid_base64("YWJj"));
  CHECK(valid_base64("YQ=="));
  CHECK_FALSE(valid_base64(""));
  CHECK_FALSE(valid_base64("YWJ"));
  CHECK_FALSE(valid_base64("Y=Jj"));
  CHECK_FALSE(valid_base64("YW*j"));
}

TEST_CASE("requests signed by render() verify with ldns; the answer's MAC input is returned") {
  for (const char* alg : {"hmac-md5", "hmac-sha1", "hmac-sha256", "hmac-sha512"}) {
    CAPTURE(alg);
    ClientOptions opt;
    opt.key = TsigKey{"Converge-Key.example.", *canonical_algorithm(alg),
                      "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="};
    PktPtr u = make_update("target.local");
    REQUIRE(u);
    ldns_rr* rr = nullptr;
    REQUIRE(ldns_rr_new_frm_str(&rr, "a.target.local. 60 IN A 192.0.2.1", 0, nullptr, nullptr) ==
            LDNS_STATUS_OK);
    ldns_pkt_push_rr(u.get(), LDNS_SECTION_AUTHORITY, rr);
    auto out = render(opt, u.get());
    REQUIRE(out.ok());
    std::vector<uint8_t>& w = out->wire;
    ldns_pkt* raw = nullptr;
    REQUIRE(ldns_wire2pkt(&raw, w.data(), w.size()) == LDNS_STATUS_OK);
    PktPtr got(raw);
    CHECK(ldns_pkt_id(got.get()) == ldns_pkt_id(u.get()));
    CHECK(ldns_pkt_nscount(got.get()) == 1);
    const ldns_rr* tsig = ldns_pkt_tsig(got.get());
    REQUIRE(tsig);
    CHECK(ldns_rdf_compare(ldns_rr_rdf(tsig, 3), out->mac.get()) == 0);
    CHECK(ldns_pkt_tsig_verify(got.get(), w.data(), w.size(), opt.key->name.c_str(),
                               opt.key->secret.c_str(), nullptr));
    CHECK_FALSE(ldns_pkt_tsig_verify(got.get(), w.data(), w.size(), opt.key->name.c_str(),
                                     "b3RoZXItc2VjcmV0", nullptr));
    w[14] ^= 1;  // a flipped bit in the message (here the zone's name) breaks the signature
    CHECK_FALSE(ldns_pkt_tsig_verify(got.get(), w.data(), w.size(), opt.key->name.c_str(),
                                     opt.key->secret.c_str(), nullptr));
  }
  ClientOptions unsigned_opt;
  auto plain = render(unsigned_opt, make_query("target.local", LDNS_RR_TYPE_SOA).get());
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->mac);
  CHECK(plain->wire.size() == 12 + 14 + 4);  // header, question name and type/class
}

TEST_CASE("server addresses") {
  auto s = parse_server("127.0.0.1:53530");
  REQUIRE(s.ok());
  CHECK(s->host == "127.0.0.1");
  CHECK(s->port == 53530);
  CHECK(parse_server("127.0.0.1")->port == 53);
  CHECK(parse_server("[::1]:5353")->host == "::1");
  CHECK(parse_server("[::1]:5353")->str() == "[::1]:5353");
  CHECK(parse_server("::1")->port == 53);
  CHECK(parse_server("ns1.example:53")->host == "ns1.example");
  for (const char* bad : {"", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:5x",
                          "[::1", ":53", "a b:53"}) {
    INFO(bad);
    auto r = parse_server(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("server '") == 0);
  }
}

TEST_CASE("names") {
  CHECK(canonical_type("srv") == "SRV");
  CHECK(in_zone("target.local.", "local."));
  CHECK(in_zone("local.", "local."));
  CHECK_FALSE(in_zone("xlocal.", "local."));
  CHECK_FALSE(in_zone("local.", "target.local."));
  CHECK(in_zone("a.b.", "."));
  CHECK(managed_type("mx"));
  CHECK_FALSE(managed_type("SOA"));
  CHECK(rcode_name(5) == "REFUSED");
  CHECK(rcode_name(42) == "RCODE42");
  CHECK(tsig_error_name(16) == "BADSIG");
}

TEST_CASE("make_record: the owner in canonical form, the value as ldns reads the line") {
  for (std::string owner :
       {"a.target.local.", "A.Target.Local", "x_y.target.local", "host9.target.local."})
    for (const auto& tv :
         std::vector<std::pair<std::string, std::string>>{{"A", "10.0.0.1"},
                                                          {"a", "192.0.2.255"},
                                                          {"AAAA", "::1"},
                                                          {"AAAA", "2001:DB8::1"},
                                                          {"aaaa", "::ffff:1.2.3.4"}}) {
      const std::string& type = tv.first;
      const std::string& value = tv.second;  // a named variable: Clang 14 cannot capture bindings
      CAPTURE(owner);
      CAPTURE(value);
      auto made = make_record(owner, 300, type, value, "target.local");
      REQUIRE(made.ok());
      std::string line = canonical_dns_name(owner) + " 300 IN " + type + " " + value;
      ldns_rr* raw = nullptr;
      REQUIRE(ldns_rr_new_frm_str(&raw, line.c_str(), 300, nullptr, nullptr) == LDNS_STATUS_OK);
      RrPtr ref(raw);
      CHECK(ldns_rr_compare(made->get(), ref.get()) == 0);
      CHECK(ldns_rr_ttl(made->get()) == 300);
    }
  auto bad = make_record("a.target.local.", 300, "A", "10.0.0", "target.local");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("malformed A value '10.0.0'") == 0);
  CHECK_FALSE(make_record("a.target.local.", 300, "AAAA", "10.0.0.1", "target.local").ok());
}
