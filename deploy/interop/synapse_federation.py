#!/usr/bin/env python3
"""The checks of synapse-federation.sh, through the client-server API of both
servers (standard library only). Exits 0 when every step passes."""

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 60  # seconds any one federated effect may take to show
PASSWORD = "interop-password-1"


def q(segment):
    """`segment` for a URL path: every reserved character escaped (event IDs
    of room versions 3 and 4 hold `/` and `+`)."""
    return urllib.parse.quote(segment, safe="")


class Failure(Exception):
    pass


class Client:
    def __init__(self, base, label):
        self.base = base
        self.label = label
        self.token = None
        self.user_id = None
        self.txn = 0
        self.since = None  # the /sync position sync_rooms is at
        self.rooms = {}  # section -> room ID -> what /sync last said of it

    def request(self, method, path, body=None, ok=(200,)):
        url = self.base + "/_matrix/client/v3" + path
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                status, text = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read()
        try:
            payload = json.loads(text) if text else {}
        except ValueError:
            payload = {"raw": text.decode(errors="replace")}
        if status not in ok:
            raise Failure(f"{self.label}: {method} {path} -> {status} {payload}")
        return status, payload

    def register(self, username):
        body = {"username": username, "password": PASSWORD, "inhibit_login": False}
        status, payload = self.request("POST", "/register", body, ok=(200, 401))
        if status == 401:  # user-interactive auth: one m.login.dummy stage
            body["auth"] = {"type": "m.login.dummy", "session": payload.get("session")}
            _, payload = self.request("POST", "/register", body)
        self.token = payload["access_token"]
        self.user_id = payload["user_id"]
        return self.user_id

    def create_room(self, name, version=None):
        body = {"preset": "public_chat", "name": name}
        if version:
            body["room_version"] = version
        _, payload = self.request("POST", "/createRoom", body)
        return payload["room_id"]

    def join(self, room_id, via):
        query = urllib.parse.urlencode([("server_name", via), ("via", via)])
        _, payload = self.request(
            "POST", f"/join/{q(room_id)}?{query}", {}
        )
        return payload["room_id"]

    def send(self, room_id, body):
        self.txn += 1
        txn = f"{int(time.time() * 1000)}-{self.txn}"
        _, payload = self.request(
            "PUT",
            f"/rooms/{q(room_id)}/send/m.room.message/{txn}",
            {"msgtype": "m.text", "body": body},
        )
        return payload["event_id"]

    def events(self, room_id):
        _, payload = self.request(
            "GET", f"/rooms/{q(room_id)}/messages?dir=b&limit=100"
        )
        return payload.get("chunk", [])

    def bodies(self, room_id):
        return [
            e.get("content", {}).get("body")
            for e in self.events(room_id)
            if e.get("type") == "m.room.message"
        ]

    def state(self, room_id, event_type, state_key=""):
        room, key = q(room_id), q(state_key)
        return self.request("GET", f"/rooms/{room}/state/{event_type}/{key}")[1]

    def put_state(self, room_id, event_type, content, state_key=""):
        room, key = q(room_id), q(state_key)
        return self.request("PUT", f"/rooms/{room}/state/{event_type}/{key}", content)[1]

    def create_private_room(self, name, version=None, join_rule=None, invite=()):
        body = {"preset": "private_chat", "name": name, "invite": list(invite)}
        if version:
            body["room_version"] = version
        if join_rule:
            body["initial_state"] = [
                {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": join_rule}}
            ]
        _, payload = self.request("POST", "/createRoom", body)
        return payload["room_id"]

    def sync_rooms(self, section):
        """The rooms in one section (join, invite, knock, leave) as a client
        following /sync sees them. Incremental, as clients sync: Synapse
        answers a repeated initial /sync from a cache for two minutes."""
        query = "timeout=0" + (f"&since={q(self.since)}" if self.since else "")
        _, payload = self.request("GET", f"/sync?{query}")
        self.since = payload["next_batch"]
        for name, rooms in payload.get("rooms", {}).items():
            for room_id, section_of_room in rooms.items():
                for others in self.rooms.values():
                    others.pop(room_id, None)
                self.rooms.setdefault(name, {})[room_id] = section_of_room
        return self.rooms.get(section, {})

    def membership(self, room_id, user_id):
        room, key = q(room_id), q(user_id)
        status, payload = self.request(
            "GET", f"/rooms/{room}/state/m.room.member/{key}", ok=(200, 404)
        )
        return payload.get("membership") if status == 200 else None

    def joined_members(self, room_id):
        _, payload = self.request(
            "GET", f"/rooms/{q(room_id)}/joined_members"
        )
        return sorted(payload.get("joined", {}))


def eventually(what, check):
    """Polls `check` (returns a truthy value or raises Failure) until it
    passes or TIMEOUT runs out."""
    deadline = time.time() + TIMEOUT
    last = None
    while time.time() < deadline:
        try:
            value = check()
            if value:
                return value
        except Failure as err:
            last = err
        time.sleep(0.5)
    raise Failure(f"{what}: not within {TIMEOUT} s" + (f" (last: {last})" if last else ""))


# Room versions Hanse creates rooms with (it joins 3 to 12).
HANSE_CREATES = {None, "10", "11", "12"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hanse", required=True)
    parser.add_argument("--hanse-name", required=True)
    parser.add_argument("--synapse", required=True)
    parser.add_argument("--synapse-name", required=True)
    parser.add_argument(
        "--room-versions",
        nargs="+",
        default=["default"],
        help='room versions to create the rooms with ("default": the servers\' own)',
    )
    args = parser.parse_args()

    hanse = Client(args.hanse, "hanse")
    synapse = Client(args.synapse, "synapse")
    # Second users, joining rooms their server is in already (local joins
    # into a room the other server created).
    carol = Client(args.hanse, "hanse")
    dave = Client(args.synapse, "synapse")
    results = []

    def step(label, action):
        started = time.time()
        print(f"-- {label} ...", flush=True)
        try:
            value = action()
        except Failure as err:
            print(f"   FAIL: {err}", flush=True)
            results.append((label, False))
            return None
        print(f"   ok ({time.time() - started:.1f} s)", flush=True)
        results.append((label, True))
        return value if value is not None else True

    def members_agree(room, expected, readers=(hanse, synapse)):
        def same():
            h, s = (reader.joined_members(room) for reader in readers)
            if h != s:
                raise Failure(f"Hanse lists {h}, Synapse {s}")
            if sorted(expected) != h:
                raise Failure(f"both list {h}, expected {sorted(expected)}")
            return True

        eventually("joined members agree", same)
        print(f"   both list {readers[0].joined_members(room)}")

    def delivered(receiver, room, texts):
        def seen():
            missing = set(texts) - set(receiver.bodies(room))
            if missing:
                raise Failure(f"{receiver.label} misses {len(missing)} of {len(texts)}")
            return True

        eventually(f"{receiver.label} sees the messages", seen)

    if not all(
        step(f"register @{name} on {client.label}", lambda c=client, n=name: c.register(n))
        for client, name in ((hanse, "alice"), (synapse, "bob"), (carol, "carol"), (dave, "dave"))
    ):
        return 1
    print(f"   {hanse.user_id}, {synapse.user_id}, {carol.user_id}, {dave.user_id}")

    expected = 4
    for version in args.room_versions:
        version = None if version == "default" else version
        kind = f"room version {version}" if version else "default room version"
        rooms = []  # (label, room ID, the server's other local user) both users joined
        if version in HANSE_CREATES:
            expected += 12  # create, join, 2 messages, members, burst, 2 redactions, state, member, local join, leave
            room = step(
                f"alice creates a room on Hanse ({kind})",
                lambda: hanse.create_room(f"on Hanse, {kind}", version),
            )
            if room and step(
                f"(a) bob (Synapse) joins the Hanse room {room} ({kind})",
                lambda: synapse.join(room, args.hanse_name),
            ):
                rooms.append((f"Hanse room ({kind})", room, dave))
        else:
            print(f"-- no Hanse room: Hanse creates rooms of versions 10 to 12 only")
        expected += 12  # create, join, 2 messages, members, burst, 2 redactions, state, member, local join, leave
        room = step(
            f"bob creates a room on Synapse ({kind})",
            lambda: synapse.create_room(f"on Synapse, {kind}", version),
        )
        if room and step(
            f"(b) alice (Hanse) joins the Synapse room {room} ({kind})",
            lambda: hanse.join(room, args.synapse_name),
        ):
            rooms.append((f"Synapse room ({kind})", room, carol))

        for label, room, _ in rooms:
            for sender, receiver in ((hanse, synapse), (synapse, hanse)):
                text = f"{sender.label} -> {receiver.label} in the {label} at {time.time():.3f}"

                def deliver(sender=sender, receiver=receiver, room=room, text=text):
                    sender.send(room, text)
                    delivered(receiver, room, [text])

                step(f"(c) {label}: {sender.label} sends, {receiver.label} receives", deliver)

        for label, room, _ in rooms:
            step(
                f"(d) {label}: both servers list the same joined members",
                lambda room=room: members_agree(room, [hanse.user_id, synapse.user_id]),
            )

        # Beyond the brief's (a) to (d): what a real room does next.
        for label, room, other in rooms:

            def burst(room=room):
                # Both sides at once: the room's graph forks and merges.
                texts = {hanse: [], synapse: []}
                threads = []
                for client in (hanse, synapse):
                    for i in range(10):
                        text = f"burst {client.label} {i} in {room}"
                        texts[client].append(text)
                    threads.append(
                        threading.Thread(
                            target=lambda c=client: [c.send(room, t) for t in texts[c]]
                        )
                    )
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                everything = texts[hanse] + texts[synapse]
                delivered(hanse, room, everything)
                delivered(synapse, room, everything)

            step(f"(e) {label}: 10 messages from each side at once reach both", burst)

            for sender, receiver in ((hanse, synapse), (synapse, hanse)):

                def redact(sender=sender, receiver=receiver, room=room):
                    text = f"to be redacted by {sender.label} in {room}"
                    event_id = sender.send(room, text)
                    delivered(receiver, room, [text])
                    sender.txn += 1
                    sender.request(
                        "PUT",
                        f"/rooms/{q(room)}/redact/"
                        f"{q(event_id)}/r{sender.txn}-{time.time()}",
                        {"reason": "interop"},
                    )

                    def gone():
                        for event in receiver.events(room):
                            if event.get("event_id") == event_id:
                                if event.get("content"):
                                    raise Failure(f"still has content {event['content']}")
                                return True
                        raise Failure(f"{event_id} not in the newest 100 events")

                    eventually(f"{receiver.label} shows it redacted", gone)

                step(f"(h) {label}: {sender.label} redacts a message, {receiver.label} too", redact)

            def remote_state(room=room):
                # The creator raises the remote user, who then sets the topic.
                creator, remote = (hanse, synapse) if other is dave else (synapse, hanse)
                levels = creator.state(room, "m.room.power_levels")
                levels.setdefault("users", {})[remote.user_id] = 50
                creator.put_state(room, "m.room.power_levels", levels)
                topic = f"set by {remote.user_id} at {time.time():.3f}"

                def set_topic():
                    remote.put_state(room, "m.room.topic", {"topic": topic})
                    return True

                # Once the power levels reached the remote user's server.
                eventually(f"{remote.label} may set the topic", set_topic)
                eventually(
                    f"{creator.label} shows the topic",
                    lambda: creator.state(room, "m.room.topic").get("topic") == topic,
                )

            step(f"(i) {label}: power levels from the creator, a topic from the other side", remote_state)

            def member_update(room=room):
                # The user who joined remotely changes their name in the room.
                remote = synapse if other is dave else hanse
                home = hanse if remote is synapse else synapse
                name = f"{remote.label} renamed"
                member = remote.state(room, "m.room.member", remote.user_id)
                remote.put_state(room, "m.room.member", dict(member, displayname=name), remote.user_id)
                eventually(
                    f"{home.label} shows the name",
                    lambda: home.state(room, "m.room.member", remote.user_id).get("displayname")
                    == name,
                )

            step(f"(j) {label}: the user who joined remotely renames themselves in the room", member_update)

            def local_join(room=room, other=other):
                # The other server's own user: a join its server makes alone.
                other.join(room, args.hanse_name if other is dave else args.synapse_name)
                members_agree(room, [hanse.user_id, synapse.user_id, other.user_id])
                text = f"{other.user_id} says hello in {room}"
                other.send(room, text)
                delivered(hanse, room, [text])
                delivered(synapse, room, [text])

            step(f"(f) {label}: {other.user_id} joins too, both agree", local_join)

            def leave(room=room, other=other):
                # The joined remote user leaves: its own server's event.
                remote = synapse if other is dave else hanse
                remote.request("POST", f"/rooms/{q(room)}/leave", {})
                stayed = [hanse.user_id, synapse.user_id, other.user_id]
                stayed.remove(remote.user_id)
                # Read by those still in the room.
                readers = (carol, synapse) if remote is hanse else (hanse, dave)
                members_agree(room, stayed, readers)

            step(f"(g) {label}: the user who joined remotely leaves, both agree", leave)

        # Invites and knocks across the servers.
        knocks = version is None or int(version) >= 7

        def sees_invite(invitee, room):
            # The invite shows in /sync with the room's name.
            def shown():
                invite = invitee.sync_rooms("invite").get(room)
                if not invite:
                    raise Failure(f"no invite for {room} in {invitee.label}'s /sync")
                names = [
                    e["content"].get("name")
                    for e in invite["invite_state"]["events"]
                    if e["type"] == "m.room.name"
                ]
                if not names:
                    raise Failure(f"the invite shows no room name: {invite}")
                return True

            eventually(f"{invitee.label} sees the invite", shown)

        def invited_and_joins(inviter, invitee, room):
            # The invitee joins naming no server: the invite says where.
            sees_invite(invitee, room)
            invitee.request("POST", f"/join/{q(room)}", {})
            members_agree(room, [inviter.user_id, invitee.user_id], (inviter, invitee))

        if version in HANSE_CREATES:
            expected += 1

            def hanse_invites():
                room = hanse.create_private_room(f"invite from Hanse, {kind}", version)
                hanse.request("POST", f"/rooms/{q(room)}/invite", {"user_id": synapse.user_id})
                invited_and_joins(hanse, synapse, room)

            step(f"(k) alice (Hanse) invites bob (Synapse) to a private room, he joins ({kind})", hanse_invites)

        expected += 2

        def carol_rejects():
            # Hanse is not in the room yet: the rejection goes through
            # Synapse.
            room = synapse.create_private_room(
                f"invite from Synapse, {kind}", version, invite=[hanse.user_id, carol.user_id]
            )
            sees_invite(carol, room)
            carol.request("POST", f"/rooms/{q(room)}/leave", {})
            if room in carol.sync_rooms("invite"):
                raise Failure("carol's invite is still shown")
            eventually(
                "Synapse shows the rejection",
                lambda: synapse.membership(room, carol.user_id) == "leave",
            )
            return room

        invited_room = step(
            f"(m) bob (Synapse) invites alice and carol (Hanse) with createRoom; carol rejects, "
            f"Synapse shows it ({kind})",
            carol_rejects,
        )
        if invited_room:
            step(
                f"(l) alice (Hanse) joins the room she is invited to ({kind})",
                lambda: invited_and_joins(synapse, hanse, invited_room),
            )
        else:
            expected -= 1

        if knocks:
            expected += 1

            def knock_on_synapse():
                # Hanse is not in the room: the knock and its retraction go
                # through Synapse.
                room = synapse.create_private_room(f"knock on Synapse, {kind}", version, "knock")
                query = urllib.parse.urlencode([("via", args.synapse_name)])
                carol.request("POST", f"/knock/{q(room)}?{query}", {"reason": "interop"})
                knock = carol.sync_rooms("knock").get(room)
                if not knock:
                    raise Failure(f"no knock for {room} in carol's /sync")
                eventually(
                    "Synapse shows the knock",
                    lambda: synapse.membership(room, carol.user_id) == "knock",
                )
                carol.request("POST", f"/rooms/{q(room)}/leave", {})
                eventually(
                    "Synapse shows the retraction",
                    lambda: synapse.membership(room, carol.user_id) == "leave",
                )

            step(f"(n) carol (Hanse) knocks on a Synapse room and retracts ({kind})", knock_on_synapse)

            def knock_on_hanse():
                room = hanse.create_private_room(f"knock on Hanse, {kind}", version or "12", "knock")
                query = urllib.parse.urlencode([("via", args.hanse_name)])
                dave.request("POST", f"/knock/{q(room)}?{query}", {"reason": "interop"})
                eventually(
                    "Hanse shows the knock",
                    lambda: hanse.membership(room, dave.user_id) == "knock",
                )
                hanse.request("POST", f"/rooms/{q(room)}/invite", {"user_id": dave.user_id})
                invited_and_joins(hanse, dave, room)

            if version in HANSE_CREATES:
                expected += 1
                step(f"(o) dave (Synapse) knocks on a Hanse room, is invited and joins ({kind})", knock_on_hanse)

    failed = [label for label, ok in results if not ok]
    print()
    for label, ok in results:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    if failed or len(results) != expected:
        print(f"{len(failed)} failed, {expected - len(results)} not run")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
