-- Argo CD health check for meshes.io MeshesWorkspace, MeshesConnection and MeshesRule.
-- It reads the conditions meshes-operator writes (docs/crds.md, "Status conditions"), each
-- with its own observedGeneration, and uses only the Lua base library (Argo CD opens no
-- string library for custom health checks).
local function find(conditions, type)
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

-- A deletion waits for the operator's cleanup in Meshes (finalizer meshes.io/finalizer).
if obj.metadata.deletionTimestamp ~= nil then
  return {status = "Progressing", message = "Deleting: the operator is cleaning up in Meshes"}
end

local conditions = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  conditions = obj.status.conditions
end
local generation = obj.metadata.generation
local ready = find(conditions, "Ready")

-- Paused: the operator wrote Ready=False/Paused once and writes nothing until the
-- meshes.io/paused annotation is removed, so this holds whatever the generation.
if ready ~= nil and ready.reason == "Paused" then
  local annotations = obj.metadata.annotations or {}
  if annotations["meshes.io/paused"] == "true" then
    return {status = "Suspended", message = ready.message}
  end
  return {status = "Progressing", message = "Resuming: the meshes.io/paused annotation was removed"}
end

-- Only a human can fix a stall; a stall of an older generation is retried with the new spec.
local stalled = find(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" and stalled.observedGeneration == generation then
  return {status = "Degraded", message = stalled.reason .. ": " .. stalled.message}
end

-- Ready for the current generation stays Healthy through a Meshes outage (Synced=False).
if ready ~= nil and ready.status == "True" and ready.observedGeneration == generation then
  local synced = find(conditions, "Synced")
  if synced ~= nil and synced.status == "False" then
    return {status = "Healthy", message = "Ready; the last sync with Meshes failed and is retried: " .. synced.message}
  end
  local drifted = find(conditions, "Drifted")
  if drifted ~= nil and drifted.status == "True" then
    return {status = "Healthy", message = "Ready; " .. drifted.reason .. ": " .. drifted.message}
  end
  return {status = "Healthy", message = ready.message}
end

if ready == nil or ready.observedGeneration ~= generation then
  return {status = "Progressing", message = "Waiting for the operator to reconcile generation " .. tostring(generation)}
end
return {status = "Progressing", message = ready.reason .. ": " .. ready.message}
