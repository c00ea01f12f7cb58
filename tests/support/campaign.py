"""The seed's 学校管理论坛 (附件1, 附件3) as config data for tests."""

from __future__ import annotations

from typing import Any

CORP_ID = "wx49f0ab532d5d035a"
WECOM_TOKEN = "123456"
WECOM_AES = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
ROBOT_TOKEN = "robottoken"
ROBOT_AES = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DING_SECRET = "SEC000test"

RUBRIC_3 = {
    "key": "fujian3",
    "name": "学校管理论坛评分表",
    "decimals": 1,
    "aggregate": "mean",
    "allow_total": True,
    "items": [
        {"name": "工作目标", "max": 20, "aliases": ["目标"]},
        {"name": "任务措施", "max": 25, "aliases": ["措施"]},
        {"name": "工作阶段进展", "max": 20, "aliases": ["进展"]},
        {"name": "工作预期成效", "max": 25, "aliases": ["成效"]},
        {"name": "个人表现", "max": 10, "aliases": ["表现"]},
    ],
}

RUIQUAN = ["瑞泉中学共同体", "杜桥中学", "尚德中学", "韩马初中共同体", "育红初中共同体"]


def campaign(db_url: str = "sqlite:///:memory:", **overrides: Any) -> dict[str, Any]:
    """Two venues of 附件1 (瑞泉中学, 育红初中) with their hosts and judges."""
    data: dict[str, Any] = {
        "timezone": "Asia/Shanghai",
        "database": {"url": db_url},
        "wecom": {
            "corp_id": CORP_ID,
            "agent_id": "1000002",
            "secret": "appsecret",
            "token": WECOM_TOKEN,
            "encoding_aes_key": WECOM_AES,
            "robot_token": ROBOT_TOKEN,
            "robot_encoding_aes_key": ROBOT_AES,
            "api_base": "http://127.0.0.1:9",
        },
        "dingtalk": {
            "app_key": "dingappkey",
            "app_secret": DING_SECRET,
            "robot_code": "dingrobot",
            "api_base": "http://127.0.0.1:9",
            "oapi_base": "http://127.0.0.1:9",
        },
        "groups": [
            {
                "key": "ruiquan",
                "name": "瑞泉中学会场群",
                "platform": "wecom",
                "webhook": "ruiquan-key",
                "chat_id": "wrRuiquan",
            },
            {
                "key": "yuhong",
                "name": "育红初中会场群",
                "platform": "dingtalk",
                "webhook": "yuhong-token",
                "secret": "SECyuhong",
                "chat_id": "cidYuhong",
            },
            {
                "key": "leaders",
                "name": "领导小组群",
                "platform": "wecom",
                "webhook": "leaders-key",
                "chat_id": "wrLeaders",
            },
        ],
        "people": [
            {
                "name": "李学斌",
                "roles": ["host", "judge"],
                "unit": "人事股",
                "wecom_userid": "lixuebin",
                "dingtalk_userid": "ding-lixuebin",
            },
            {
                "name": "申毅",
                "roles": ["judge"],
                "wecom_userid": "shenyi",
                "dingtalk_userid": "ding-shenyi",
                "mobile": "13800000001",
            },
            {
                "name": "梁飞",
                "roles": ["judge"],
                "wecom_userid": "liangfei",
                "dingtalk_userid": "ding-liangfei",
            },
            {
                "name": "张伟利",
                "roles": ["judge"],
                "wecom_userid": "zhangweili",
                "dingtalk_userid": "ding-zhangweili",
            },
            {"name": "郭锋", "roles": ["host"], "wecom_userid": "guofeng"},
            {"name": "党攀峰", "roles": ["judge"], "dingtalk_userid": "ding-dangpanfeng"},
            {"name": "樊文英", "roles": ["judge"], "dingtalk_userid": "ding-fanwenying"},
            {"name": "韩晓斌", "roles": ["judge"], "dingtalk_userid": "ding-hanxiaobin"},
            {"name": "王局长", "roles": ["leader"], "wecom_userid": "wangjz"},
            {"name": "教育股", "roles": ["organizer"], "wecom_userid": "jiaoyugu"},
            {
                "name": "陈校长",
                "roles": ["principal"],
                "unit": "瑞泉中学",
                "wecom_userid": "chenxz",
            },
        ],
        "rubrics": [RUBRIC_3],
        "venues": [
            {
                "key": "ruiquan",
                "title": "学校管理论坛",
                "starts_at": "2022-02-13 08:00",
                "location": "瑞泉中学",
                "rubric": "fujian3",
                "host": "李学斌",
                "judges": ["申毅", "梁飞", "张伟利"],
                "contestants": RUIQUAN,
                "group": "ruiquan",
                "results_to": ["leaders"],
            },
            {
                "key": "yuhong",
                "title": "学校管理论坛",
                "starts_at": "2022-02-13 08:00",
                "location": "育红初中",
                "rubric": "fujian3",
                "host": "郭锋",
                "judges": ["党攀峰", "樊文英", "韩晓斌"],
                "contestants": [
                    "实验初中共同体",
                    "前进路初中共同体",
                    "陇海初中共同体",
                    "南京路初中共同体",
                ],
                "group": "yuhong",
                "results_to": ["leaders"],
            },
        ],
    }
    data.update(overrides)
    return data
