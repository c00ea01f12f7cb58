"""``edubot bind-ids``: fill the people's missing platform ids from their mobiles in one go.

WeCom: ``POST /cgi-bin/user/getuserid`` (the app needs 通讯录 read access and a trusted IP);
DingTalk: ``POST {oapi_base}/topapi/v2/user/getbymobile`` (the app needs the
``qyapi_get_member_by_mobile`` permission). Both against the configured API bases. The ids
found are written into the config's ``[[people]]`` (tomlkit: comments kept); everyone else
is reported with the reason, so the clerk knows whom to ask to send ``绑定``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomlkit
from tomlkit.items import AoT

from bot.config import PersonConfig, Settings
from bot.config_edits import config_write_lock, write_checked

_NOT_FOUND = {46004, 60121}
_FORBIDDEN = {48002, 60011, 60020}
_FIELD = {"wecom": "wecom_userid", "dingtalk": "dingtalk_userid"}
_NAMES = {"wecom": "企业微信", "dingtalk": "钉钉"}


@dataclass(frozen=True, slots=True)
class Lookup:
    """One person on one platform: the id found, or why not."""

    name: str
    platform: str
    user_id: str = ""
    reason: str = ""


def lookup_ids(settings: Settings, http: httpx.Client) -> list[Lookup]:
    """Every person without an id on a configured platform, looked up by mobile."""
    results: list[Lookup] = []
    for platform in ("wecom", "dingtalk"):
        people = [p for p in settings.people if not getattr(p, _FIELD[platform])]
        if not people or not _configured(settings, platform):
            continue
        results.extend(_platform(settings, http, platform, people))
    return results


def _configured(settings: Settings, platform: str) -> bool:
    if platform == "wecom":
        return bool(settings.wecom.corp_id and settings.wecom.secret)
    return bool(settings.dingtalk.app_key and settings.dingtalk.app_secret)


def _platform(
    settings: Settings, http: httpx.Client, platform: str, people: list[PersonConfig]
) -> Iterator[Lookup]:
    try:
        token = _token(settings, http, platform)
    except (httpx.HTTPError, ValueError) as exc:
        for person in people:
            yield Lookup(person.name, platform, reason=f"取不到{_NAMES[platform]}凭证：{exc}")
        return
    forbidden = ""
    for person in people:
        mobile = _mobile(person.mobile)
        if not mobile:
            yield Lookup(person.name, platform, reason="名单中没有手机号")
            continue
        if forbidden:
            yield Lookup(person.name, platform, reason=forbidden)
            continue
        try:
            data = _ask(settings, http, platform, token, mobile)
        except (httpx.HTTPError, ValueError) as exc:
            yield Lookup(person.name, platform, reason=f"查询失败：{exc}")
            continue
        code = int(data.get("errcode", -1))
        user = (
            data.get("userid") if platform == "wecom" else (data.get("result") or {}).get("userid")
        )
        if code == 0 and isinstance(user, str) and user:
            yield Lookup(person.name, platform, user_id=user)
        elif code in _NOT_FOUND:
            yield Lookup(person.name, platform, reason=f"通讯录中没有手机号 {mobile}")
        elif code in _FORBIDDEN:
            forbidden = f"应用无权按手机号查通讯录（{code} {data.get('errmsg', '')}）"
            yield Lookup(person.name, platform, reason=forbidden)
        else:
            yield Lookup(person.name, platform, reason=f"{code} {data.get('errmsg', '')}")


def _token(settings: Settings, http: httpx.Client, platform: str) -> str:
    if platform == "wecom":
        wecom = settings.wecom
        response = http.get(
            f"{wecom.api_base.rstrip('/')}/cgi-bin/gettoken",
            params={"corpid": wecom.corp_id, "corpsecret": wecom.secret},
        )
        token = response.json().get("access_token")
    else:
        ding = settings.dingtalk
        response = http.post(
            f"{ding.api_base.rstrip('/')}/v1.0/oauth2/accessToken",
            json={"appKey": ding.app_key, "appSecret": ding.app_secret},
        )
        token = response.json().get("accessToken")
    if not isinstance(token, str) or not token:
        raise ValueError(f"HTTP {response.status_code} {response.text[:200]}")
    return token


def _ask(
    settings: Settings, http: httpx.Client, platform: str, token: str, mobile: str
) -> dict[str, Any]:
    if platform == "wecom":
        url = f"{settings.wecom.api_base.rstrip('/')}/cgi-bin/user/getuserid"
    else:
        url = f"{settings.dingtalk.oapi_base.rstrip('/')}/topapi/v2/user/getbymobile"
    data = http.post(url, params={"access_token": token}, json={"mobile": mobile}).json()
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    return data


def _mobile(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return digits[-11:] if len(digits) >= 11 else ""


def write_ids(path: Path, found: list[Lookup]) -> int:
    """Write the ids found into ``[[people]]`` of the file; how many were written."""
    with config_write_lock(path):
        doc = tomlkit.parse(path.read_text(encoding="utf-8-sig"))
        people = doc.get("people")
        written = 0
        if isinstance(people, AoT):
            by_name = {str(t.get("name", "")).replace(" ", ""): t for t in people}
            for item in found:
                entry = by_name.get(item.name)
                if entry is not None and not entry.get(_FIELD[item.platform]):
                    entry[_FIELD[item.platform]] = item.user_id
                    written += 1
        if written:
            write_checked(path, tomlkit.dumps(doc))
    return written


def report(results: list[Lookup], written: int) -> str:
    """The Chinese report ``edubot bind-ids`` prints."""
    lines = [f"✓ {r.name}：{_NAMES[r.platform]} {r.user_id}" for r in results if r.user_id] + [
        f"✗ {r.name}：{_NAMES[r.platform]}，{r.reason}" for r in results if not r.user_id
    ]
    missed = sum(1 for r in results if not r.user_id)
    lines.append(f"已写入配置文件 {written} 个账号；{missed} 项未找到。")
    if missed:
        lines.append("未找到的人员可以在聊天中发送“绑定 单位 姓名”或“绑定 手机号”自行绑定。")
    return "\n".join(lines)
