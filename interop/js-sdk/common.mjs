// Helpers shared by the interop scripts (script.mjs, e2ee.mjs): accounts
// through the SDK, waiting for what its /sync loop delivers, and the
// numbered "ok N - ..." lines each check prints.

import assert from "node:assert/strict";
import { createRequire } from "node:module";

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

export const PASSWORD = "correct horse battery staple";
/** How long to wait for something to arrive through /sync. */
export const WAIT_MS = 15_000;
export const sdkVersion = createRequire(import.meta.url)("matrix-js-sdk/package.json").version;

/**
 * The server's client-API URL from the command line (`usage` names the
 * script's arguments), or exits 2. Sets the SDK's log level from
 * JS_SDK_LOG (default silent: the SDK logs expected refusals as errors).
 */
export function baseUrlFromArgs(usage) {
    const baseUrl = process.argv[2];
    if (!baseUrl) {
        console.error(`usage: ${usage}`);
        process.exit(2);
    }
    quietSdkLog();
    return baseUrl;
}

/** The SDK's log level: JS_SDK_LOG, or silent. */
export const LOG_LEVEL = (process.env.JS_SDK_LOG || "silent").toLowerCase();

/**
 * Sets the SDK's log to LOG_LEVEL, its child loggers (which the SDK
 * creates at level debug, e.g. one per encrypted room) included: they
 * inherit the method factory set here, which drops what is below the
 * level.
 */
function quietSdkLog() {
    logger.setLevel(LOG_LEVEL);
    const threshold = logger.levels[LOG_LEVEL.toUpperCase()];
    const original = logger.methodFactory;
    logger.methodFactory = (method, level, name) =>
        logger.levels[method.toUpperCase()] >= threshold ? original(method, level, name) : () => {};
    logger.rebuild();
}

let checks = 0;
/** Prints a passed check, numbered. */
export function ok(what) {
    checks += 1;
    console.log(`ok ${checks} - ${what}`);
}
/** How many checks have passed so far. */
export function passed() {
    return checks;
}

/** Runs `main`, then exits 0, or 1 after printing what failed. */
export function run(main) {
    main().then(
        () => process.exit(0),
        (err) => {
            console.error("FAILED:", err);
            if (err?.data) console.error("server said:", JSON.stringify(err.data));
            process.exit(1);
        },
    );
}

/** Awaits `promise`, which must reject with a MatrixError `errcode` / `status`. */
export async function refused(promise, errcode, status, what) {
    await assert.rejects(
        promise,
        (err) => {
            assert.ok(err instanceof sdk.MatrixError, `${what}: not a MatrixError: ${err}`);
            assert.equal(err.errcode, errcode, `${what}: ${err.message}`);
            assert.equal(err.httpStatus, status, `${what}: ${err.message}`);
            return true;
        },
        what,
    );
    ok(`refused with ${status} ${errcode}: ${what}`);
}

/**
 * Registers `username` through the SDK's user-interactive auth driver,
 * which answers the server's 401 (flows + session) with the m.login.dummy
 * stage on its own.
 */
export async function register(baseUrl, username) {
    const anonymous = sdk.createClient({ baseUrl });
    const submitted = [];
    const uia = new sdk.InteractiveAuth({
        matrixClient: anonymous,
        supportedStages: [sdk.AuthType.Dummy],
        doRequest: (auth) => {
            submitted.push(auth);
            return anonymous.registerRequest({
                username,
                password: PASSWORD,
                auth: auth ?? undefined,
                initial_device_display_name: "js-sdk registration",
            });
        },
        stateUpdated: (stage, status) => {
            throw new Error(`registration asked for stage ${stage}: ${JSON.stringify(status)}`);
        },
        requestEmailToken: () => Promise.reject(new Error("no e-mail stage expected")),
    });
    const registered = await uia.attemptAuth();
    assert.equal(submitted.length, 2, "one request without auth, one with the dummy stage");
    assert.equal(submitted[0], null);
    assert.equal(submitted[1].type, "m.login.dummy");
    assert.ok(submitted[1].session, "the dummy stage carries the server's session");
    assert.match(registered.user_id, new RegExp(`^@${username}:`));
    assert.ok(registered.access_token && registered.device_id, "registration logged in");
    ok(`register ${registered.user_id}: 401 with flows, then m.login.dummy with the session`);
    return registered;
}

/**
 * Logs `username` in with their password on a new device; returns a
 * client with the new token and device ID, created with `clientOpts`
 * added (e.g. a fetchFn).
 */
export async function login(baseUrl, username, { deviceName = "js-sdk", clientOpts = {} } = {}) {
    const anonymous = sdk.createClient({ baseUrl });
    const flows = await anonymous.loginFlows();
    assert.ok(
        flows.flows.some((flow) => flow.type === "m.login.password"),
        `password login offered: ${JSON.stringify(flows)}`,
    );
    const response = await anonymous.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: username },
        password: PASSWORD,
        initial_device_display_name: deviceName,
    });
    const client = sdk.createClient({
        ...clientOpts,
        baseUrl,
        accessToken: response.access_token,
        userId: response.user_id,
        deviceId: response.device_id,
    });
    const whoami = await client.whoami();
    assert.equal(whoami.user_id, response.user_id);
    assert.equal(whoami.device_id, response.device_id);
    ok(`login ${username} with password; whoami says ${whoami.user_id} on device ${whoami.device_id}`);
    return client;
}

/**
 * Resolves with the arguments of the first `event` that `emitter` emits
 * and `test` accepts (listening from now on); rejects after `ms`
 * milliseconds, saying it waited for `what`.
 */
export function waitFor(emitter, event, test, what, ms = WAIT_MS) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            emitter.off(event, listener);
            reject(new Error(`no ${event} within ${ms} ms: waited for ${what}`));
        }, ms);
        function listener(...args) {
            let matched;
            try {
                matched = test(...args);
            } catch (err) {
                matched = err;
            }
            if (!matched) return;
            clearTimeout(timer);
            emitter.off(event, listener);
            if (matched instanceof Error) reject(matched);
            else resolve(args);
        }
        emitter.on(event, listener);
    });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolves once `test()` (which may be async) holds, checking every 50 ms;
 * rejects after `ms`.
 */
export async function until(test, what, ms = WAIT_MS) {
    const deadline = Date.now() + ms;
    while (!(await test())) {
        if (Date.now() > deadline) {
            throw new Error(`not within ${ms} ms: waited for ${what}`);
        }
        await sleep(50);
    }
}

/**
 * Starts `client`'s /sync loop and waits for the PREPARED sync state (the
 * initial sync processed); on timeout says which state it was in instead.
 */
export async function startSyncing(client, opts) {
    const states = [];
    const record = (state, _previous, data) => {
        states.push(data?.error ? `${state} (${data.error.errcode ?? ""} ${data.error.message})` : state);
    };
    client.on(sdk.ClientEvent.Sync, record);
    const prepared = waitFor(
        client,
        sdk.ClientEvent.Sync,
        (state) => state === sdk.SyncState.Prepared,
        `${client.getUserId()}'s sync state PREPARED`,
    ).catch((err) => {
        err.message += `; sync states so far: ${states.join(", ") || "none"}`;
        throw err;
    });
    try {
        await client.startClient(opts);
        await prepared;
    } finally {
        client.off(sdk.ClientEvent.Sync, record);
    }
}
