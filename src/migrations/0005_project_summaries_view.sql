-- Read views run as the caller (security_invoker), so the caller's tenant policies apply;
-- a view without it would read as its owner.

create view project_summaries with (security_invoker = true) as
select
  p.tenant_id,
  p.id,
  p.name,
  p.status,
  count(t.id) filter (where t.status <> 'done') as open_tasks,
  count(t.id) as total_tasks,
  p.created_at,
  p.updated_at
from projects p
left join tasks t on t.tenant_id = p.tenant_id and t.project_id = p.id
group by p.tenant_id, p.id;

revoke all on project_summaries from public;
grant select on project_summaries to :"app_role", :"system_role";
