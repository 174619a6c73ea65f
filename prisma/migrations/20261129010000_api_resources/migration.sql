-- APIs (resource servers) that accept JWT access tokens.

-- CreateTable
CREATE TABLE "api_resources" (
    "id" UUID NOT NULL,
    "identifier" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "scopes" JSONB NOT NULL DEFAULT '[]',
    "access_token_ttl" INTEGER NOT NULL,
    "signing_alg" TEXT NOT NULL DEFAULT 'RS256',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "api_resources_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "api_resources_identifier_key" ON "api_resources"("identifier");

