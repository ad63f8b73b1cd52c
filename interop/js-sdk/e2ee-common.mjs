// Helpers for the end-to-end encryption scripts (e2ee.mjs, e2ee-peer.mjs):
// matrix-js-sdk clients with the SDK's Rust crypto whose HTTP exchanges are
// recorded, so the scripts can check what the server answered.

import assert from "node:assert/strict";

import { LoggerLevel, Tracing } from "@matrix-org/matrix-sdk-crypto-wasm";
import * as sdk from "matrix-js-sdk";

import { LOG_LEVEL, WAIT_MS, login, ok, startSyncing, until, waitFor } from "./common.mjs";

export const MEGOLM = "m.megolm.v1.aes-sha2";

/** Every HTTP exchange of every client, in order. */
export const exchanges = [];

/**
 * A fetch for the client called `label` that records each exchange: method,
 * path, status, errcode of refusals, and for /sync the device list changes
 * and to-device events the server delivered.
 */
function recordingFetch(label) {
    return async (input, init = {}) => {
        const request = input instanceof Request ? input : null;
        const url = new URL(request ? request.url : String(input));
        const method = init.method ?? request?.method ?? "GET";
        const response = await fetch(input, init);
        const exchange = { label, method, path: decodeURIComponent(url.pathname), status: response.status };
        exchanges.push(exchange);
        if (exchange.path.includes("/sendToDevice/")) {
            // Who the to-device messages went to: {user: [device, ...]}.
            const messages = JSON.parse(init.body).messages;
            exchange.recipients = Object.fromEntries(
                Object.entries(messages).map(([user, devices]) => [user, Object.keys(devices)]),
            );
        }
        if (response.ok && method === "POST" && /\/dehydrated_device\/.+\/events$/.test(exchange.path)) {
            // A dehydrated device's to-device messages (MSC3814): the batch
            // asked for and the one answered. (The device ID, decoded here,
            // may hold slashes: the js-sdk's are unpadded base64.)
            const body = await response.clone().json();
            exchange.sentNextBatch = JSON.parse(init.body || "{}").next_batch;
            exchange.events = (body.events ?? []).map((event) => ({
                type: event.type,
                sender: event.sender,
                algorithm: event.content?.algorithm,
            }));
            exchange.nextBatch = body.next_batch;
        }
        if (!response.ok) {
            exchange.errcode = await response
                .clone()
                .json()
                .then((body) => body.errcode, () => undefined);
        } else if (exchange.path.endsWith("/sync")) {
            const body = await response.clone().json();
            exchange.deviceListsChanged = body.device_lists?.changed ?? [];
            exchange.deviceListsLeft = body.device_lists?.left ?? [];
            exchange.oneTimeKeys = body.device_one_time_keys_count?.signed_curve25519;
            exchange.fallbackKeys = body.device_unused_fallback_key_types;
            exchange.toDevice = (body.to_device?.events ?? []).map((event) => ({
                type: event.type,
                sender: event.sender,
                algorithm: event.content?.algorithm,
            }));
        }
        return response;
    };
}

/**
 * The Rust crypto's own log goes straight to the console, and
 * initRustCrypto turns it on at level debug each time (new
 * Tracing(Debug).turnOn()). Turning it on here applies the SDK's level
 * instead, or turns it off when that is silent.
 */
function rustCryptoLogAtSdkLevel() {
    const levels = { trace: "Trace", debug: "Debug", info: "Info", warn: "Warn", error: "Error" };
    const level = LoggerLevel[levels[LOG_LEVEL]];
    const turnOn = Tracing.prototype.turnOn;
    Tracing.prototype.turnOn = function () {
        if (level === undefined) return this.turnOff();
        this.minLevel = level;
        return turnOn.call(this);
    };
}
rustCryptoLogAtSdkLevel();

/** The exchanges of `label` whose path ends with `suffix`. */
export function exchangesOf(label, suffix) {
    return exchanges.filter((exchange) => exchange.label === label && exchange.path.endsWith(suffix));
}

/**
 * Logs `username` in at `baseUrl` on a new device called `label`, starts
 * the SDK's Rust crypto on it (in memory) and its /sync loop; waits until
 * the server serves the device's identity keys back through /keys/query.
 * `clientOpts` go to createClient (e.g. cryptoCallbacks).
 */
export async function cryptoDevice(baseUrl, username, label, clientOpts = {}) {
    const client = await login(baseUrl, username, {
        deviceName: label,
        clientOpts: { ...clientOpts, fetchFn: recordingFetch(label) },
    });
    await client.initRustCrypto({ useIndexedDB: false });
    const crypto = client.getCrypto();
    assert.ok(crypto, `${label}: getCrypto() after initRustCrypto`);
    const keys = await crypto.getOwnDeviceKeys();

    // Every decryption failure this device ever sees, by event ID.
    const failures = new Map();
    client.on(sdk.MatrixEventEvent.Decrypted, (event) => {
        if (event.isDecryptionFailure()) failures.set(event.getId(), event.decryptionFailureReason);
    });

    await startSyncing(client, { initialSyncLimit: 20 });
    const userId = client.getUserId();
    const deviceId = client.getDeviceId();
    let served;
    await until(async () => {
        const answer = await client.http.authedRequest(sdk.Method.Post, "/keys/query", undefined, {
            device_keys: { [userId]: [deviceId] },
        });
        served = answer.device_keys?.[userId]?.[deviceId];
        return served !== undefined;
    }, `${label}'s device keys to be served by /keys/query`);
    assert.equal(served.user_id, userId);
    assert.equal(served.device_id, deviceId);
    assert.deepEqual(served.keys, {
        [`ed25519:${deviceId}`]: keys.ed25519,
        [`curve25519:${deviceId}`]: keys.curve25519,
    });
    assert.ok(served.algorithms.includes(MEGOLM), `${label} offers ${MEGOLM}: ${served.algorithms}`);
    assert.ok(served.signatures?.[userId]?.[`ed25519:${deviceId}`], `${label}'s keys are self-signed`);
    assert.equal(served.unsigned?.device_display_name, label, "the display name rides in unsigned");
    ok(
        `${label} (${userId}, device ${deviceId}) starts the Rust crypto and syncs; ` +
            "/keys/query serves back its uploaded ed25519 and curve25519 keys",
    );
    // The IDs of the events it decrypted, as the scripts note them.
    const decrypted = [];
    return { client, crypto, label, userId, deviceId, keys, failures, decrypted };
}

/**
 * Resolves with `device`'s copy of the event in `roomId` that decrypts to
 * `body` (listening from now on, for up to `ms`).
 */
export function decryptedAt(device, roomId, body, ms = WAIT_MS) {
    return waitFor(
        device.client,
        sdk.MatrixEventEvent.Decrypted,
        (event) => event.getRoomId() === roomId && event.getClearContent()?.body === body,
        `${device.label} to decrypt "${body}"`,
        ms,
    ).then(
        ([event]) => event,
        (err) => {
            const failed = [...device.failures].map(([id, reason]) => `${id}: ${reason}`);
            err.message += `; decryption failures at ${device.label}: ${failed.join(", ") || "none"}`;
            throw err;
        },
    );
}

/**
 * Asserts that `event`, as `who` got it, was an m.room.encrypted Megolm
 * event from `sender` that decrypted to the m.text message `body`.
 */
export function assertDecryptedText(event, who, sender, body) {
    assert.ok(event.isEncrypted(), `${who}: isEncrypted()`);
    assert.equal(event.getWireType(), "m.room.encrypted", `${who}: arrived as m.room.encrypted`);
    assert.equal(event.getWireContent().algorithm, MEGOLM, `${who}: encrypted with Megolm`);
    assert.equal(event.getType(), "m.room.message", `${who}: decrypts to m.room.message`);
    assert.ok(!event.isDecryptionFailure(), `${who}: no decryption failure`);
    assert.deepEqual(event.getClearContent(), { msgtype: "m.text", body }, `${who}: the clear content`);
    assert.equal(event.getSender(), sender, `${who}: the sender`);
}

/** Asserts `device` received, through /sync, an Olm-encrypted to-device message from `userId`. */
export function assertOlmFrom(device, userId) {
    const received = exchangesOf(device.label, "/sync").flatMap((sync) => sync.toDevice ?? []);
    assert.ok(
        received.some(
            (event) =>
                event.type === "m.room.encrypted" &&
                event.sender === userId &&
                event.algorithm === "m.olm.v1.curve25519-aes-sha2",
        ),
        `${device.label} got an Olm-encrypted to-device message from ${userId}; to-device received: ` +
            JSON.stringify(received),
    );
}

/**
 * Asserts that the clients used the key endpoints and /sync and that the
 * server answered every such request with a success; prints, for the
 * record, every other request the server refused.
 */
export function checkKeyRequests() {
    const keyEndpoints = ["/keys/upload", "/keys/query", "/keys/claim", "/sendToDevice/m.room.encrypted/", "/sync"];
    for (const endpoint of keyEndpoints) {
        const matching = exchanges.filter((exchange) => exchange.path.includes(endpoint));
        assert.ok(matching.length > 0, `the clients used ${endpoint}`);
        const failed = matching.filter((exchange) => exchange.status >= 300);
        assert.deepEqual(failed, [], `every ${endpoint} succeeded`);
    }
    // Other to-device messages (room key requests, for one) succeeded too.
    const toDevice = exchanges.filter((exchange) => exchange.path.includes("/sendToDevice/"));
    assert.deepEqual(
        toDevice.filter((exchange) => exchange.status >= 300),
        [],
        "every /sendToDevice succeeded",
    );
    const types = [...new Set(toDevice.map((exchange) => exchange.path.split("/").at(-2)))];
    const count = (endpoint) => exchanges.filter((exchange) => exchange.path.includes(endpoint)).length;
    ok(
        `every key request succeeded: ${keyEndpoints.map((endpoint) => `${endpoint} ${count(endpoint)}x`).join(", ")}` +
            `; to-device types sent: ${types.join(", ")}`,
    );
    const refusals = new Map();
    for (const exchange of exchanges.filter((exchange) => exchange.status >= 300)) {
        const key = `${exchange.method} ${exchange.path} -> ${exchange.status} ${exchange.errcode ?? ""}`;
        refusals.set(key, (refusals.get(key) ?? 0) + 1);
    }
    for (const [key, times] of refusals) console.log(`note: refused ${times}x: ${key}`);
}

/** Asserts that one of `device`'s syncs since exchange number `since` listed `userId` in device_lists.changed. */
export function assertDeviceListChange(device, userId, since) {
    const syncs = exchangesOf(device.label, "/sync").filter((exchange) => exchanges.indexOf(exchange) >= since);
    assert.ok(
        syncs.some((sync) => sync.deviceListsChanged?.includes(userId)),
        `a /sync of ${device.label} lists ${userId} in device_lists.changed; ` +
            `its syncs since: ${JSON.stringify(syncs.map((sync) => sync.deviceListsChanged))}`,
    );
}
