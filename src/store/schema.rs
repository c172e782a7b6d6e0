// One schema for both backends. Written by hand: `diesel print-schema` would read SQLite's
// INTEGER ids as i32, while they are 64-bit on both backends.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        is_bot -> Bool,
        bot_owner_id -> Nullable<BigInt>,
        token_hash -> Nullable<Text>,
        disabled_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        is_admin -> Bool,
    }
}

diesel::table! {
    invites (id) {
        id -> BigInt,
        code_hash -> Text,
        created_by -> Nullable<BigInt>,
        uses_left -> Integer,
        expires_at -> BigInt,
        created_at -> BigInt,
        room_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    bans (room_id, user_id) {
        room_id -> BigInt,
        user_id -> BigInt,
        banned_by -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    admin_claim (slot) {
        slot -> Integer,
        user_id -> BigInt,
    }
}

diesel::table! {
    rooms (id) {
        id -> BigInt,
        name -> Text,
        owner_id -> BigInt,
        capacity -> Integer,
        member_count -> Integer,
        last_seq -> BigInt,
        created_at -> BigInt,
        is_private -> Bool,
        is_dm -> Bool,
        message_count -> BigInt,
    }
}

diesel::table! {
    memberships (room_id, user_id) {
        room_id -> BigInt,
        user_id -> BigInt,
        joined_at -> BigInt,
        last_read_seq -> BigInt,
        read_count -> BigInt,
        own_after_read -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        room_id -> BigInt,
        seq -> BigInt,
        kind -> Text,
        actor_id -> BigInt,
        content -> Nullable<Text>,
        created_at -> BigInt,
        target_id -> Nullable<BigInt>,
        edited_at -> Nullable<BigInt>,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sessions (key_hash) {
        key_hash -> Text,
        sid -> Nullable<Text>,
        user_id -> Nullable<BigInt>,
        state -> Text,
        expires_at -> BigInt,
        last_seen_at -> BigInt,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    idempotency_keys (user_id, room_id, idem_key) {
        user_id -> BigInt,
        room_id -> BigInt,
        idem_key -> Text,
        request_hash -> Text,
        event_id -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    reactions (message_id, emoji, user_id) {
        message_id -> BigInt,
        emoji -> Text,
        user_id -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    dm_pairs (low_id, high_id) {
        low_id -> BigInt,
        high_id -> BigInt,
        room_id -> BigInt,
    }
}

diesel::joinable!(rooms -> users (owner_id));
diesel::joinable!(memberships -> rooms (room_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(events -> rooms (room_id));
diesel::joinable!(events -> users (actor_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    rooms,
    memberships,
    events,
    sessions,
    server_secrets,
    idempotency_keys,
    admin_claim,
    invites,
    bans,
    reactions,
    dm_pairs
);
