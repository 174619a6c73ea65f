-- Admin API: client lifecycle (disable, secret rotation with a grace period, dynamic
-- registration), per-client revocation of artifacts, the append-only audit trail and
-- the built-in admin roles.

-- AlterTable
ALTER TABLE "clients" ADD COLUMN     "disabled" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "dynamic" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "previous_secret_ciphertext" TEXT,
ADD COLUMN     "previous_secret_expires_at" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "oidc_payloads" ADD COLUMN     "client_id" TEXT;

-- CreateTable
CREATE TABLE "audit_events" (
    "id" BIGSERIAL NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor_type" TEXT NOT NULL,
    "actor_id" TEXT NOT NULL,
    "actor_client_id" TEXT,
    "ip" TEXT,
    "user_agent" TEXT,
    "request_id" TEXT,
    "action" TEXT NOT NULL,
    "target_type" TEXT NOT NULL,
    "target_id" TEXT NOT NULL,
    "before" JSONB,
    "after" JSONB,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "audit_events_occurred_at_idx" ON "audit_events"("occurred_at");

-- CreateIndex
CREATE INDEX "audit_events_target_type_target_id_idx" ON "audit_events"("target_type", "target_id");

-- CreateIndex
CREATE INDEX "audit_events_actor_id_idx" ON "audit_events"("actor_id");

-- CreateIndex
CREATE INDEX "audit_events_action_idx" ON "audit_events"("action");

-- CreateIndex
CREATE INDEX "oidc_payloads_client_id_idx" ON "oidc_payloads"("client_id");


-- Artifacts written before this migration: take the client from the payload.
UPDATE "oidc_payloads" SET "client_id" = "payload"->>'clientId' WHERE "client_id" IS NULL AND "payload" ? 'clientId';

-- The audit trail is append-only for everyone who connects through the application:
-- rows can be inserted and read, never changed or removed (checklist K3). Retention is
-- an operator's task, done as the table owner with the triggers disabled.
CREATE FUNCTION "audit_events_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER "audit_events_no_change" BEFORE UPDATE OR DELETE ON "audit_events"
  FOR EACH ROW EXECUTE FUNCTION "audit_events_append_only"();
CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "audit_events"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_events_append_only"();

-- Roles the admin API itself understands: holders may obtain the scope of the same name.
INSERT INTO "roles" ("id", "name", "description", "updated_at") VALUES
  (gen_random_uuid(), 'admin', 'Full access to the admin API (scope admin)', CURRENT_TIMESTAMP),
  (gen_random_uuid(), 'admin:read', 'Read-only access to the admin API (scope admin:read)', CURRENT_TIMESTAMP)
ON CONFLICT ("name") DO NOTHING;
